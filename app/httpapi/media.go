package httpapi

import (
	"crypto/hmac"
	"encoding/base64"
	"net/url"
	"path"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

// Signed media links. A <video> or <img> element cannot send an
// Authorization header, and a token in the URL would end up in access logs,
// proxies and browser history. The video JSON therefore gives links signed
// with a key derived from the server secret, each valid for one video, one
// kind of file (original, processed, poster) and a short time. A link
// opens nothing else and grants no session. On AWS the link answers with a
// redirect to an S3 presigned URL, as every media request does.
const (
	// mediaLinkTTL is the longest a link lives: enough to load the page
	// and start playing, short enough that a leaked link soon dies.
	mediaLinkTTL = 15 * time.Minute
	// mediaLinkStep aligns expiry times, so the same video gives the same
	// link for this long: the page's 3 s refresh of "Mis videos" then does
	// not rebuild (and restart) a video that is playing, and browsers cache.
	// A link thus lives between mediaLinkTTL-mediaLinkStep and mediaLinkTTL.
	mediaLinkStep = 5 * time.Minute
)

func mediaURL(id, kind string) string { return "/api/videos/" + id + "/" + kind }

// mediaLink is the signed URL of a video's file.
func (a *api) mediaLink(id, kind string) string {
	expires := time.Now().Truncate(mediaLinkStep).Add(mediaLinkTTL).Unix()
	q := url.Values{"expires": {strconv.FormatInt(expires, 10)}, "signature": {a.mediaSignature(id, kind, expires)}}
	return mediaURL(id, kind) + "?" + q.Encode()
}

func (a *api) mediaSignature(id, kind string, expires int64) string {
	return base64.RawURLEncoding.EncodeToString(a.Tokens.Sign("media", id+"/"+kind+"/"+strconv.FormatInt(expires, 10)))
}

// signedLink tells whether the request is a valid signed link for this
// video and the kind of file its route serves. A link that is present but
// expired, altered or made for another file is refused, not ignored.
func (a *api) signedLink(c echo.Context, id string) (bool, error) {
	q := c.QueryParams()
	if !q.Has("signature") && !q.Has("expires") {
		return false, nil
	}
	expires, err := strconv.ParseInt(q.Get("expires"), 10, 64)
	now := time.Now()
	if err != nil || now.Unix() >= expires || expires > now.Add(mediaLinkTTL).Unix() {
		return false, errMediaLink
	}
	want := a.mediaSignature(id, path.Base(c.Path()), expires)
	if !hmac.Equal([]byte(q.Get("signature")), []byte(want)) {
		return false, errMediaLink
	}
	return true, nil
}
