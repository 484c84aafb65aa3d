package web

import (
	"bytes"
	"html/template"
	"net/http"
)

// landingLink is one entry of the landing page.
type landingLink struct {
	Address, Text, Description string
}

var landingTemplate = template.Must(template.New("landing").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>ServiceComb Exporter</title>
<style>body{font-family:-apple-system,system-ui,sans-serif;margin:2em;max-width:50em}li{margin:.4em 0}small{color:#555}</style>
</head>
<body>
<h1>ServiceComb Exporter</h1>
<p>Prometheus exporter for Apache ServiceComb Service Center registries.</p>
<p>Version: {{.Version}}</p>
<ul>
{{range .Links}}<li><a href="{{.Address}}">{{.Text}}</a>{{with .Description}} <small>{{.}}</small>{{end}}</li>
{{end}}</ul>
</body>
</html>
`))

// landingPage renders the page once; it changes only with the binary.
func landingPage(version string, links []landingLink) (http.HandlerFunc, error) {
	var buf bytes.Buffer
	if err := landingTemplate.Execute(&buf, struct {
		Version string
		Links   []landingLink
	}{version, links}); err != nil {
		return nil, err
	}
	page := buf.Bytes()
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	}, nil
}
