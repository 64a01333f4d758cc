package httpapi

import "github.com/anb/risingstars/app/auth"

// MediaSignatureForTest signs a media link as a server with tokens does.
func MediaSignatureForTest(tokens *auth.Tokens, id, kind string, expires int64) string {
	return (&api{Config: Config{Tokens: tokens}}).mediaSignature(id, kind, expires)
}
