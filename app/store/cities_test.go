package store

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestCityKey(t *testing.T) {
	for in, want := range map[string]string{
		"Bogotá": "bogota", "BOGOTÁ": "bogota", "  bogota  ": "bogota", "Bogota\u0301": "bogota",
		"Medellín": "medellin", "São  Paulo": "sao paulo", "Peñalolén": "penalolen", "Zürich": "zurich",
		"Straße": "strasse", "ÇANKIRI": "cankiri", "Cali": "cali",
	} {
		if got := CityKey(in); got != want {
			t.Errorf("CityKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// Migration 0005 rekeys the players who signed up before it, whose
// city_key was only lower-cased, in users and in player_totals.
func TestMigration0005RekeysExistingCities(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "", filepath.Join(t.TempDir(), "anb.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u := User{FirstName: "Ana", LastName: "Pérez", Email: "ana@example.com", PasswordHash: "x", City: "Bogotá", Country: "CO"}
	if err := s.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	v := Video{ID: "v1", UserID: u.ID, Title: "t", IsPublic: true, TaskID: "t1"}
	if err := s.CreateVideo(ctx, &v); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishProcessing(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	// The state before 0005: keys as strings.ToLower made them.
	for _, q := range []string{
		"UPDATE users SET city_key = 'bogotá'", "UPDATE player_totals SET city_key = 'bogotá'",
		"DROP TABLE login_failures", "DELETE FROM schema_migrations WHERE version = 5",
	} {
		if err := s.db.Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := s.Rankings(ctx, "Bogota", 1, 10); len(got) != 0 {
		t.Fatalf("the old key matched an unaccented filter: %v", got)
	}
	if err := s.migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var keys []string
	s.db.Raw("SELECT city_key FROM users UNION ALL SELECT city_key FROM player_totals").Scan(&keys)
	if len(keys) != 2 || keys[0] != "bogota" || keys[1] != "bogota" {
		t.Errorf("keys after the migration: %v", keys)
	}
	if got, err := s.Rankings(ctx, "BOGOTA", 1, 10); err != nil || len(got) != 1 {
		t.Errorf("rankings of BOGOTA after the migration: %v %v", got, err)
	}
	if st, err := s.LoginFailures(ctx, time.Minute, Limit{Subject: "account:x", Max: 1}); err != nil || st.RetryAfter != 0 {
		t.Errorf("login_failures after the migration: %+v %v", st, err)
	}
}

// Requests compute keys concurrently; run with -race to see a shared
// transformer corrupt another request's key.
func TestCityKeyIsSafeConcurrently(t *testing.T) {
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 2000; j++ {
				if got := CityKey("  Bogotá  D.C. "); got != "bogota d.c." {
					t.Errorf("CityKey = %q", got)
					return
				}
			}
		}()
	}
	wg.Wait()
}
