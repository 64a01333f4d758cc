package httpapi

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// What clients of other teams need at the edge of the API: routes that
// answer with or without a trailing slash, CORS for front ends served from
// other origins, and paging links.

// trailingSlash rewrites "/api/videos/" to "/api/videos" before routing.
// A rewrite, not a redirect: a client that follows a 301/308 may drop or
// resend the body of a POST, and it costs a round trip.
func trailingSlash() echo.MiddlewareFunc {
	return middleware.RemoveTrailingSlashWithConfig(middleware.TrailingSlashConfig{})
}

// CORS: what a cross-origin front end may send and read. Tokens travel in
// the Authorization header, never in cookies, so credentials mode is not
// needed (and "*" is safe to offer).
const (
	corsAllowMethods  = "GET, HEAD, POST, DELETE"
	corsAllowHeaders  = "Authorization, Content-Type, Range"
	corsExposeHeaders = "Link, X-Total-Count, Retry-After, X-Request-Id, Content-Range, Accept-Ranges, Content-Length"
	corsMaxAge        = "600" // seconds a browser may reuse a preflight answer
)

// cors answers preflights and marks actual responses per the Fetch
// standard for the origins listed (exact "scheme://host[:port]", or "*").
// With none listed only same-origin pages use the API, as browsers then
// refuse every cross-origin read.
func cors(origins []string) echo.MiddlewareFunc {
	anyOrigin := slices.Contains(origins, "*")
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req, h := c.Request(), c.Response().Header()
			origin := req.Header.Get(echo.HeaderOrigin)
			preflight := req.Method == http.MethodOptions && req.Header.Get(echo.HeaderAccessControlRequestMethod) != ""
			if origin == "" {
				return next(c)
			}
			// Caches must keep answers per origin apart.
			h.Add(echo.HeaderVary, echo.HeaderOrigin)
			allowed := anyOrigin || slices.Contains(origins, origin)
			if preflight {
				h.Add(echo.HeaderVary, echo.HeaderAccessControlRequestMethod)
				h.Add(echo.HeaderVary, echo.HeaderAccessControlRequestHeaders)
				if !allowed {
					return errOriginNotAllowed
				}
				h.Set(echo.HeaderAccessControlAllowOrigin, origin)
				h.Set(echo.HeaderAccessControlAllowMethods, corsAllowMethods)
				h.Set(echo.HeaderAccessControlAllowHeaders, corsAllowHeaders)
				h.Set(echo.HeaderAccessControlMaxAge, corsMaxAge)
				return c.NoContent(http.StatusNoContent)
			}
			if allowed {
				h.Set(echo.HeaderAccessControlAllowOrigin, origin)
				h.Set(echo.HeaderAccessControlExposeHeaders, corsExposeHeaders)
			}
			return next(c)
		}
	}
}

// clientAddress is the address throttles and the vote audit count a
// request against. Behind the load balancer it is the last X-Forwarded-For
// entry: the one the balancer appended from the connection it accepted
// (earlier entries come from the client and prove nothing). The header is
// believed only when the peer is in TrustedProxies (on AWS the VPC range,
// where the balancer's nodes are; default loopback), never because the
// peer's address is merely private: a client that reaches a node some other
// way is its connection's address. One trusted hop: the platform has one
// balancer in front.
func (a *api) clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	peer = peer.Unmap()
	if !slices.ContainsFunc(a.trusted, func(p netip.Prefix) bool { return p.Contains(peer) }) {
		return peer.String()
	}
	values := r.Header.Values(echo.HeaderXForwardedFor)
	if len(values) == 0 {
		return peer.String()
	}
	entries := strings.Split(values[len(values)-1], ",")
	if last, err := netip.ParseAddr(strings.TrimSpace(entries[len(entries)-1])); err == nil {
		return last.Unmap().String()
	}
	return peer.String()
}

// addressGroup is what the throttles count a client address as: itself
// for IPv4, its /64 network for IPv6 (one subscriber gets a whole /64, so
// counting single IPv6 addresses would give one client 2^64 allowances).
func addressGroup(address string) string {
	ip, err := netip.ParseAddr(address)
	if err != nil || ip.Is4() {
		return address
	}
	return netip.PrefixFrom(ip, 64).Masked().String()
}

// setPaging adds X-Total-Count and the RFC 8288 Link header (rel="first",
// "prev", "next", "last") to a list response. Links keep the request's
// other query parameters and are relative to the server.
func setPaging(c echo.Context, p paging, total int64) {
	h := c.Response().Header()
	h.Set("X-Total-Count", strconv.FormatInt(total, 10))
	last := max(1, int((total+int64(p.size)-1)/int64(p.size)))
	link := func(page int, rel string) string {
		q := c.Request().URL.Query()
		q.Set("page", strconv.Itoa(page))
		q.Set("page_size", strconv.Itoa(p.size))
		return fmt.Sprintf(`<%s?%s>; rel="%s"`, c.Request().URL.Path, q.Encode(), rel)
	}
	links := []string{link(1, "first")}
	if p.page > 1 {
		links = append(links, link(min(p.page-1, last), "prev"))
	}
	if p.page < last {
		links = append(links, link(p.page+1, "next"))
	}
	links = append(links, link(last, "last"))
	h.Set("Link", strings.Join(links, ", "))
}

// refuseTokenInURL turns away a bearer token sent in the query string: it
// would be written to access logs, proxies and browser history. Media links
// carry a signature bound to one file instead.
func refuseTokenInURL(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Request().URL.Query().Has("access_token") {
			return errTokenInURL
		}
		return next(c)
	}
}
