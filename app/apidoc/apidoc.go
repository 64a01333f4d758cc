// Package apidoc holds the OpenAPI 3 document of the REST API (the contract of every client), serves
// it with a readable offline docs page, and validates live traffic against it
// in tests, so the document and the server cannot drift apart unnoticed.
package apidoc

import (
	"bytes"
	_ "embed"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

//go:embed openapi.json
var specJSON []byte

//go:embed docs.html
var docsTemplate string

// docsHTML is the docs page with the document inlined, so the page needs no
// second request and no network at all.
var docsHTML = strings.Replace(docsTemplate, "/*OPENAPI*/null", string(inlineJSON(specJSON)), 1)

// inlineJSON makes JSON safe inside a <script> element: "</" could close it.
func inlineJSON(b []byte) []byte {
	return bytes.ReplaceAll(b, []byte("</"), []byte(`<\/`))
}

// Register mounts GET /api/openapi.json and GET /api/docs.
func Register(e *echo.Echo) {
	e.GET("/api/openapi.json", func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-cache")
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, specJSON)
	})
	e.GET("/api/docs", func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-cache")
		return c.HTML(http.StatusOK, docsHTML)
	})
}
