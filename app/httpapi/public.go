package httpapi

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/anb/risingstars/app/store"
	"github.com/labstack/echo/v4"
)

const (
	defaultPageSize = 10
	maxPageSize     = 100
	maxPage         = 1_000_000
)

type paging struct{ page, size int }

// queryParams checks that the query names only allowed parameters, so a
// misspelt one is reported instead of silently ignored. Every unknown
// parameter is named, sorted, so the same request gets the same answer.
func queryParams(c echo.Context, allowed ...string) error {
	var unknown []string
	for name := range c.QueryParams() {
		if !slices.Contains(allowed, name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	details := make(map[string]string, len(unknown))
	for _, name := range unknown {
		details[name] = "Parámetro desconocido."
	}
	label := "Parámetro desconocido"
	if len(unknown) > 1 {
		label = "Parámetros desconocidos"
	}
	return badRequest(fmt.Sprintf("%s: %s. Se admiten: %s.", label, strings.Join(unknown, ", "), strings.Join(allowed, ", ")), details)
}

// parsePaging reads page and page_size; size is the default page size.
func parsePaging(c echo.Context, size int) (paging, error) {
	p := paging{page: 1, size: size}
	problems := map[string]string{}
	q := c.QueryParams()
	if _, ok := q["page"]; ok {
		n, err := strconv.Atoi(q.Get("page"))
		if err != nil || n < 1 || n > maxPage {
			problems["page"] = "Debe ser un entero mayor o igual a 1."
		}
		p.page = n
	}
	if _, ok := q["page_size"]; ok {
		n, err := strconv.Atoi(q.Get("page_size"))
		if err != nil || n < 1 || n > maxPageSize {
			problems["page_size"] = "Debe ser un entero entre 1 y 100."
		}
		p.size = n
	}
	if len(problems) > 0 {
		return p, badRequest("Parámetros de paginación inválidos.", problems)
	}
	return p, nil
}

type publicVideoItem struct {
	VideoID      string    `json:"video_id"`
	Title        string    `json:"title"`
	ProcessedURL string    `json:"processed_url"`
	PosterURL    string    `json:"poster_url"`
	Votes        int64     `json:"votes"`
	UploadedAt   time.Time `json:"uploaded_at"`
	ProcessedAt  time.Time `json:"processed_at"`
	PlayerName   string    `json:"player_name"`
	City         string    `json:"city"`
	Country      string    `json:"country"`
	HasVoted     *bool     `json:"has_voted,omitempty"`
	// VotePending: the viewer's vote waits for their e-mail's verification.
	VotePending bool `json:"vote_pending,omitempty"`
}

func (a *api) publicVideos(c echo.Context) error {
	if err := queryParams(c, "page", "page_size"); err != nil {
		return err
	}
	p, err := parsePaging(c, defaultPageSize)
	if err != nil {
		return err
	}
	viewer := userID(c)
	videos, err := a.Catalog.PublicVideos(c.Request().Context(), viewer, p.page, p.size)
	if err != nil {
		return err
	}
	total, err := a.totals.get(totalsKey{}, func() (int64, error) { return a.Catalog.CountPublicVideos(c.Request().Context()) })
	if err != nil {
		return err
	}
	setPaging(c, p, total)
	out := make([]publicVideoItem, len(videos))
	for i, v := range videos {
		out[i] = publicVideoItem{VideoID: v.ID, Title: v.Title, ProcessedURL: mediaURL(v.ID, "processed"),
			PosterURL: mediaURL(v.ID, "poster"), Votes: v.Votes, UploadedAt: v.UploadedAt, ProcessedAt: v.ProcessedAt,
			PlayerName: v.PlayerName(), City: v.City, Country: v.Country}
		if viewer != 0 {
			out[i].HasVoted = &v.HasVoted
			out[i].VotePending = v.VotePending
		}
	}
	return c.JSON(http.StatusOK, out)
}

func (a *api) vote(c echo.Context) error {
	id, err := videoID(c)
	if err != nil {
		return err
	}
	req := c.Request()
	pending, err := a.Videos.Vote(req.Context(), store.Ballot{UserID: userID(c), VideoID: id,
		Address: a.auditHash("address", addressGroup(a.clientAddress(req))), Agent: a.auditHash("agent", req.UserAgent()),
		VerifiedOnly: a.VoteCounting == VoteCountingVerified})
	if err != nil {
		return err
	}
	if pending {
		// Still 200 with the contract's message: the vote is stored, and
		// counts once the voter's e-mail is verified.
		return c.JSON(http.StatusOK, map[string]any{"message": "Voto registrado exitosamente.", "pending": true,
			"pending_reason": "Tu voto contará en el ranking cuando confirmes tu correo electrónico."})
	}
	return c.JSON(http.StatusOK, map[string]string{"message": "Voto registrado exitosamente."})
}

type rankingItem struct {
	Position int    `json:"position"`
	Username string `json:"username"`
	City     string `json:"city"`
	Votes    int64  `json:"votes"`
}

type rankingsKey struct {
	city       string
	page, size int
}

const maxCityLength = 100

func (a *api) rankingsHandler(c echo.Context) error {
	if err := queryParams(c, "city", "page", "page_size"); err != nil {
		return err
	}
	p, err := parsePaging(c, defaultPageSize)
	if err != nil {
		return err
	}
	key := rankingsKey{page: p.page, size: p.size}
	if values, ok := c.QueryParams()["city"]; ok {
		key.city = store.CityKey(values[0])
		if key.city == "" || utf8.RuneCountInString(key.city) > maxCityLength {
			return badRequest("El parámetro city debe tener entre 1 y 100 caracteres.", map[string]string{"city": "Valor inválido."})
		}
	}
	items, err := a.rankings.get(key, func() ([]rankingItem, error) {
		rows, err := a.Catalog.Rankings(c.Request().Context(), key.city, key.page, key.size)
		if err != nil {
			return nil, err
		}
		items := make([]rankingItem, len(rows))
		for i, r := range rows {
			items[i] = rankingItem{Position: (key.page-1)*key.size + i + 1, Username: r.Username(), City: r.City, Votes: r.Votes}
		}
		return items, nil
	})
	if err != nil {
		return err
	}
	total, err := a.totals.get(totalsKey{rankings: true, city: key.city}, func() (int64, error) {
		return a.Catalog.CountRanked(c.Request().Context(), key.city)
	})
	if err != nil {
		return err
	}
	setPaging(c, p, total)
	return c.JSON(http.StatusOK, items)
}

// totalsKey names a count behind X-Total-Count: the gallery's, or the
// rankings' of one city ("" = all). Counts are cached like the rankings:
// the rankings' figures rest on that cache, and a count (an index range
// over every published video or ranked player) costs more than the page.
type totalsKey struct {
	rankings bool
	city     string
}
