package httpapi_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/anb/risingstars/app/store/storetest"
)

func TestPublicGalleryAndVotes(t *testing.T) {
	clip := hd(t)
	storetest.Each(t, func(t *testing.T, db storetest.DB) {
		e := newEnv(t, db, envOptions{})
		ana := e.user("ana@example.com", "Ana", "Cali")
		bob := e.user("bob@example.com", "Bob", "Medellín")
		published := e.uploadVideo(ana, clip, "Clavada", true)
		private := e.uploadVideo(ana, clip, "Privado", false)
		e.waitStatus(ana, published, "processed", 30*time.Second)
		e.waitStatus(ana, private, "processed", 30*time.Second)
		pending := e.pendingVideo("bob@example.com", "Pendiente") // public, never processed

		anonymous := e.call("GET", "/api/public/videos", "", nil).list(t)
		found := false
		for _, v := range anonymous {
			if v["video_id"] == private {
				t.Fatalf("private video in the gallery: %v", v)
			}
			if v["video_id"] == published {
				found = true
				if v["player_name"] != "Ana Pérez" || v["city"] != "Cali" || v["country"] != "Colombia" || v["votes"] != float64(0) || v["processed_url"] == nil || v["title"] != "Clavada" {
					t.Errorf("gallery item = %v", v)
				}
				if _, ok := v["has_voted"]; ok {
					t.Errorf("anonymous gallery item has has_voted: %v", v)
				}
			}
		}
		if !found {
			t.Fatalf("published video missing from the gallery: %v", anonymous)
		}

		if r := e.call("POST", "/api/public/videos/"+published+"/vote", bob, nil); r.status != http.StatusOK || r.json(t)["message"] != "Voto registrado exitosamente." {
			t.Fatalf("vote: %d %s", r.status, r.body)
		}
		r := e.call("POST", "/api/public/videos/"+published+"/vote", bob, nil)
		if r.status != http.StatusBadRequest || r.message(t) != "Ya has votado por este video." {
			t.Fatalf("second vote: %d %s", r.status, r.body)
		}
		if v := e.call("GET", "/api/videos/"+published, ana, nil).json(t); v["votes"] != float64(1) {
			t.Errorf("vote not visible at once in the detail: %v", v["votes"])
		}
		for _, v := range e.call("GET", "/api/public/videos", bob, nil).list(t) {
			if v["video_id"] == published && (v["votes"] != float64(1) || v["has_voted"] != true) {
				t.Errorf("bob's gallery item = %v", v)
			}
		}
		for _, v := range e.call("GET", "/api/public/videos", ana, nil).list(t) {
			if v["video_id"] == published && v["has_voted"] != false {
				t.Errorf("ana's gallery item = %v", v)
			}
		}

		for _, c := range []struct {
			name, id, token string
			want            int
		}{
			{"unknown video", "00000000-0000-4000-8000-000000000000", bob, http.StatusNotFound},
			{"malformed id", "42", bob, http.StatusNotFound},
			{"private video", private, bob, http.StatusNotFound},
			{"no token", published, "", http.StatusUnauthorized},
		} {
			r := e.call("POST", "/api/public/videos/"+c.id+"/vote", c.token, nil)
			if r.status != c.want {
				t.Errorf("%s: %d, want %d: %s", c.name, r.status, c.want, r.body)
			} else {
				r.message(t)
			}
		}
		if r := e.call("POST", "/api/public/videos/"+pending+"/vote", ana, nil); r.status != http.StatusNotFound {
			t.Errorf("vote for an unprocessed video: %d, want 404", r.status)
		}

		for _, q := range []string{"page=0", "page=abc", "page_size=0", "page_size=101", "page=-1", "pagesize=5"} {
			r := e.call("GET", "/api/public/videos?"+q, "", nil)
			if r.status != http.StatusBadRequest {
				t.Errorf("gallery ?%s: %d, want 400", q, r.status)
			} else {
				r.message(t)
			}
		}
		if page := e.call("GET", "/api/public/videos?page=2&page_size=1", "", nil); page.status != http.StatusOK {
			t.Errorf("gallery page 2: %d", page.status)
		}
	})
}

func TestConcurrentVotesThroughTheAPI(t *testing.T) {
	clip := hd(t)
	storetest.Each(t, func(t *testing.T, db storetest.DB) {
		e := newEnv(t, db, envOptions{})
		ana := e.user("ana@example.com", "Ana", "Cali")
		bob := e.user("bob@example.com", "Bob", "Cali")
		id := e.uploadVideo(ana, clip, "Clavada", true)
		e.waitStatus(ana, id, "processed", 30*time.Second)

		const n = 100
		statuses := make(chan int, n)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				statuses <- e.call("POST", "/api/public/videos/"+id+"/vote", bob, nil).status
			})
		}
		wg.Wait()
		close(statuses)
		count := map[int]int{}
		for s := range statuses {
			count[s]++
		}
		if count[http.StatusOK] != 1 || count[http.StatusBadRequest] != n-1 {
			t.Fatalf("statuses = %v, want one 200 and %d 400", count, n-1)
		}
		if v := e.call("GET", "/api/videos/"+id, ana, nil).json(t); v["votes"] != float64(1) {
			t.Fatalf("votes = %v, want 1", v["votes"])
		}
	})
}

func TestRankings(t *testing.T) {
	clip := hd(t)
	storetest.Each(t, func(t *testing.T, db storetest.DB) {
		e := newEnv(t, db, envOptions{})
		// Players 0..11 in Cali and Bogotá; player i gets i%4 votes.
		voters := make([]string, 3)
		for i := range voters {
			voters[i] = e.user(fmt.Sprintf("voter%d@example.com", i), "Votante", "Pasto")
		}
		type player struct {
			name, city string
			votes      int
		}
		var players []player
		var videos []string
		var tokens []string
		for i := range 12 {
			city := "Cali"
			if i%2 == 1 {
				city = "Bogotá"
			}
			name := fmt.Sprintf("Jugador%02d", i)
			token := e.user(fmt.Sprintf("p%d@example.com", i), name, city)
			tokens = append(tokens, token)
			videos = append(videos, e.uploadVideo(token, clip, "Jugada", true))
			players = append(players, player{name + " Pérez", city, i % 4})
		}
		for i, id := range videos {
			e.waitStatus(tokens[i], id, "processed", 60*time.Second)
			for _, voter := range voters[:players[i].votes] {
				if r := e.call("POST", "/api/public/videos/"+id+"/vote", voter, nil); r.status != http.StatusOK {
					t.Fatalf("vote: %d %s", r.status, r.body)
				}
			}
		}
		all := e.call("GET", "/api/public/rankings?page_size=100", "", nil).list(t)
		if len(all) != 12 {
			t.Fatalf("rankings has %d players, want 12 (players with 0 votes included)", len(all))
		}
		for i, r := range all {
			if r["position"] != float64(i+1) {
				t.Errorf("position %v at index %d", r["position"], i)
			}
			if i > 0 && r["votes"].(float64) > all[i-1]["votes"].(float64) {
				t.Errorf("not sorted by votes: %v", all)
			}
		}
		// Ties go to the earlier player: 3 votes are players 3, 7, 11.
		if all[0]["username"] != "Jugador03 Pérez" || all[1]["username"] != "Jugador07 Pérez" || all[0]["votes"] != float64(3) {
			t.Errorf("top of the rankings = %v", all[:3])
		}

		page2 := e.call("GET", "/api/public/rankings?city=bogotá&page=2&page_size=2", "", nil)
		if page2.status != http.StatusOK {
			t.Fatalf("bogotá page 2: %d %s", page2.status, page2.body)
		}
		got := page2.list(t)
		// Bogotá (odd players) by votes: 3,7,11 (3 votes) then 1,5,9 (1 vote).
		if len(got) != 2 || got[0]["position"] != float64(3) || got[0]["username"] != "Jugador11 Pérez" || got[1]["username"] != "Jugador01 Pérez" || got[1]["city"] != "Bogotá" {
			t.Errorf("bogotá page 2 = %v", got)
		}
		if empty := e.call("GET", "/api/public/rankings?city=Lima", "", nil).list(t); len(empty) != 0 {
			t.Errorf("unknown city = %v", empty)
		}
		for _, q := range []string{"page=0", "page=x", "page_size=0", "page_size=101", "page_size=1.5", "city=", "ciudad=Cali"} {
			r := e.call("GET", "/api/public/rankings?"+q, "", nil)
			if r.status != http.StatusBadRequest {
				t.Errorf("rankings ?%s: %d, want 400", q, r.status)
			} else {
				r.message(t)
			}
		}
	})
}

func TestRankingsCacheServesWithinTTL(t *testing.T) {
	clip := hd(t)
	db := storetest.Open(t, "sqlite")
	e := newEnv(t, db, envOptions{rankingTTL: time.Hour})
	ana := e.user("ana@example.com", "Ana", "Cali")
	bob := e.user("bob@example.com", "Bob", "Cali")
	id := e.uploadVideo(ana, clip, "Clavada", true)
	e.waitStatus(ana, id, "processed", 30*time.Second)
	before := e.call("GET", "/api/public/rankings", "", nil).list(t)
	e.call("POST", "/api/public/videos/"+id+"/vote", bob, nil)
	after := e.call("GET", "/api/public/rankings", "", nil).list(t)
	if before[0]["votes"] != float64(0) || after[0]["votes"] != float64(0) {
		t.Fatalf("with a 1 h TTL the cached ranking should be served: before %v, after %v", before, after)
	}
	if fresh := e.call("GET", "/api/public/rankings?page_size=5", "", nil).list(t); fresh[0]["votes"] != float64(1) {
		t.Fatalf("another key is computed fresh: %v", fresh)
	}
}
