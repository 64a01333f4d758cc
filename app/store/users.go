package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"gorm.io/gorm"
)

// User is a registered player or voter.
type User struct {
	ID           int64
	FirstName    string
	LastName     string
	Email        string
	PasswordHash string
	City         string
	Country      string
	CreatedAt    time.Time
	VerifiedAt   *time.Time // nil until the e-mail is verified
	// SignupAddress is a keyed hash of the client address at signup, for
	// the vote audit (written, never read back into User).
	SignupAddress string `gorm:"-"`
}

const userColumns = "id, first_name, last_name, email, password_hash, city, country, created_at, verified_at"

// displayName is how a player appears in the gallery and the rankings.
func displayName(first, last string) string { return first + " " + last }

// NormalizeEmail gives the form emails are stored and compared in.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// CreateUser stores u and sets its ID; ErrDuplicateEmail if the e-mail is taken.
func (s *Store) CreateUser(ctx context.Context, u *User) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	u.Email = NormalizeEmail(u.Email)
	u.CreatedAt = now()
	var ids []int64
	// ON CONFLICT keeps concurrent signups with one e-mail to a single row
	// without turning the loser's attempt into a database error.
	err := s.db.WithContext(ctx).Raw(`INSERT INTO users (first_name, last_name, email, password_hash, city, city_key, country, created_at, signup_address)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (email) DO NOTHING RETURNING id`,
		u.FirstName, u.LastName, u.Email, u.PasswordHash, u.City, CityKey(u.City), u.Country, u.CreatedAt, u.SignupAddress).Scan(&ids).Error
	if err != nil {
		return wrap("insert user", err)
	}
	if len(ids) == 0 {
		return ErrDuplicateEmail
	}
	u.ID = ids[0]
	return nil
}

// UserByEmail finds a user by e-mail, case-insensitively.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	return s.userWhere(ctx, "email = ?", NormalizeEmail(email))
}

func (s *Store) userWhere(ctx context.Context, cond string, arg any) (User, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var u User
	err := s.db.WithContext(ctx).Table("users").
		Select(userColumns).
		Where(cond, arg).Take(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, wrap("find user", err)
	}
	return u, nil
}
