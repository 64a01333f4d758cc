// Command loadseed loads the data set of the capacity measurement straight
// into PostgreSQL with COPY: -players players, each with one public
// processed video, and -votes distinct votes with a skewed popularity. The
// schema is migrated first, as the API does. scripts/loadtest then measures
// against it (its vote mode mints tokens for these players with -jwt-secret).
//
//	go run ./scripts/loadseed -db postgres://anb:anb@127.0.0.1:5432/anb_capacity_load?sslmode=disable
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/anb/risingstars/app/auth"
	"github.com/anb/risingstars/app/store"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

type options struct {
	db             string
	players, votes int
	reset          bool
	password       string
}

func main() {
	var o options
	flag.StringVar(&o.db, "db", "", "PostgreSQL URL of the API's database (postgres://...)")
	flag.IntVar(&o.players, "players", 10_000, "players, each with one public processed video")
	flag.IntVar(&o.votes, "votes", 100_000, "votes (distinct player/video pairs)")
	flag.BoolVar(&o.reset, "reset", false, "empty users, videos and votes first")
	flag.StringVar(&o.password, "password", "loadtest-password", "password of every seeded player")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := runSeed(ctx, &o); err != nil {
		fmt.Fprintln(os.Stderr, "loadseed:", err)
		os.Exit(1)
	}
}

// Cities of the seeded players, with weights roughly following population.
var seedCities = []struct {
	name   string
	weight int
}{
	{"Bogotá", 30}, {"Medellín", 14}, {"Cali", 12}, {"Barranquilla", 8}, {"Cartagena", 6}, {"Bucaramanga", 5},
	{"Cúcuta", 4}, {"Pereira", 4}, {"Santa Marta", 4}, {"Ibagué", 3}, {"Manizales", 3}, {"Pasto", 3},
	{"Villavicencio", 2}, {"Montería", 2},
}

var seedFirstNames = []string{"Juan", "Andrés", "Carlos", "Santiago", "Mateo", "Sebastián", "Daniel", "Camilo",
	"Valentina", "Camila", "Mariana", "Laura", "Daniela", "Sofía", "Isabella", "Luisa", "Felipe", "Nicolás", "Diego", "Ana"}

var seedLastNames = []string{"García", "Rodríguez", "Martínez", "López", "González", "Hernández", "Pérez", "Sánchez",
	"Ramírez", "Torres", "Flórez", "Rivera", "Gómez", "Díaz", "Moreno", "Muñoz", "Rojas", "Vargas", "Castro", "Ortiz"}

// runSeed loads o.players players, each with one public processed video, and
// o.votes distinct votes, with PostgreSQL COPY. Every player's password is
// o.password, hashed once with bcrypt and reused: hashing 10,000 passwords
// would take minutes and measure nothing.
func runSeed(ctx context.Context, o *options) error {
	if err := o.check(); err != nil {
		return err
	}
	start := time.Now()
	// Open through the store so the schema is the one the API migrates to.
	st, err := store.Open(ctx, o.db, "")
	if err != nil {
		return err
	}
	st.Close()
	conn, err := pgx.Connect(ctx, o.db)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)

	var existing int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM users").Scan(&existing); err != nil {
		return err
	}
	if existing > 0 && !o.reset {
		return fmt.Errorf("the database already has %d users; pass -reset to empty users, videos and votes first", existing)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if o.reset {
		if _, err := tx.Exec(ctx, "TRUNCATE votes, videos, users RESTART IDENTITY CASCADE"); err != nil {
			return err
		}
	}

	hash, err := auth.HashPassword(o.password)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(2026, 1)) // the same data on every run
	var cityWeights int
	for _, c := range seedCities {
		cityWeights += c.weight
	}
	pickCity := func() string {
		n := rng.IntN(cityWeights)
		for _, c := range seedCities {
			if n < c.weight {
				return c.name
			}
			n -= c.weight
		}
		return seedCities[0].name
	}

	epoch := time.Now().UTC().Add(-30 * 24 * time.Hour).Truncate(time.Second)
	users := make([][]any, o.players)
	videos := make([][]any, o.players)
	videoIDs := make([]string, o.players)
	for i := range o.players {
		id := int64(i + 1)
		city := pickCity()
		created := epoch.Add(time.Duration(i) * 100 * time.Millisecond)
		users[i] = []any{id, seedFirstNames[rng.IntN(len(seedFirstNames))], fmt.Sprintf("%s %d", seedLastNames[rng.IntN(len(seedLastNames))], id),
			fmt.Sprintf("player%d@loadtest.anb", id), hash, city, store.CityKey(city), "Colombia", created}
		videoIDs[i] = uuid.NewString()
		uploaded := created.Add(time.Hour)
		processed := uploaded.Add(time.Minute)
		videos[i] = []any{videoIDs[i], id, fmt.Sprintf("Jugada %d", id), true, store.StatusProcessed, "", uuid.NewString(), 1,
			int64(0), uploaded, uploaded, processed}
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"users"},
		[]string{"id", "first_name", "last_name", "email", "password_hash", "city", "city_key", "country", "created_at"}, pgx.CopyFromRows(users))
	if err != nil {
		return fmt.Errorf("copy users: %w", err)
	}
	if _, err := tx.Exec(ctx, "SELECT setval(pg_get_serial_sequence('users', 'id'), $1)", o.players); err != nil {
		return err
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"videos"},
		[]string{"id", "user_id", "title", "is_public", "status", "error", "task_id", "attempts", "votes", "uploaded_at", "enqueued_at", "processed_at"},
		pgx.CopyFromRows(videos)); err != nil {
		return fmt.Errorf("copy videos: %w", err)
	}

	votes, err := drawVotes(rng, videoIDs, o.votes, epoch.Add(24*time.Hour))
	if err != nil {
		return err
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"votes"}, []string{"user_id", "video_id", "created_at"}, pgx.CopyFromRows(votes)); err != nil {
		return fmt.Errorf("copy votes: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE videos v SET votes = c.n
		FROM (SELECT video_id, count(*) AS n FROM votes GROUP BY video_id) c WHERE c.video_id = v.id`); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	// Measurements then start from a steady state: statistics fresh, pages
	// all-visible, no autovacuum of the bulk load running under the test.
	if _, err := conn.Exec(ctx, "VACUUM (ANALYZE)"); err != nil {
		return err
	}
	var top int64
	if err := conn.QueryRow(ctx, "SELECT max(votes) FROM videos").Scan(&top); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "seeded %d players, %d public processed videos, %d votes (most-voted video: %d) in %.1f s; password %q\n",
		n, len(videos), len(votes), top, time.Since(start).Seconds(), o.password)
	return nil
}

// check refuses what cannot be seeded.
func (o *options) check() error {
	if o.db == "" || !strings.HasPrefix(o.db, "postgres") {
		return errors.New("seed needs -db postgres://...")
	}
	maxVotes := int64(o.players) * int64(o.players)
	if o.players < 1 || int64(o.votes) > maxVotes/2 {
		return fmt.Errorf("cannot place %d distinct votes among %d players", o.votes, o.players)
	}
	return nil
}

type votePair struct {
	user  int64
	video string
}

// drawVotes draws n distinct (voter, video) rows for the votes table, voters
// 1..len(videoIDs) (player i owns videoIDs[i-1]), 10 ms apart from at.
// Popularity is skewed (a few stars, a long tail), like real votes.
func drawVotes(rng *rand.Rand, videoIDs []string, n int, at time.Time) ([][]any, error) {
	players := len(videoIDs)
	zipf := rand.NewZipf(rng, 1.07, 20, uint64(players-1))
	seen := make(map[votePair]bool, n)
	votes := make([][]any, 0, n)
	for attempts := 0; len(votes) < n && attempts < 50*n; attempts++ {
		voter := int64(1 + rng.IntN(players))
		video := videoIDs[zipf.Uint64()]
		p := votePair{voter, video}
		if seen[p] {
			continue
		}
		seen[p] = true
		votes = append(votes, []any{voter, video, at.Add(time.Duration(len(votes)) * 10 * time.Millisecond)})
	}
	if len(votes) < n {
		return nil, fmt.Errorf("only %d distinct votes could be drawn", len(votes))
	}
	return votes, nil
}
