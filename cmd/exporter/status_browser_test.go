package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/servicecomb/servicecomb_exporter/internal/embedetcd"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/amtest"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/binary"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/registrytest"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/wait"
)

// statusScreenshot, when set, is where TestStatusPageInBrowser saves a
// screenshot of the page during the outage (make status-screenshot).
var statusScreenshot = flag.String("status-screenshot", "", "save a PNG of /status during the etcd outage to this file")

// chromiumBinary returns Debian's chromium, skipping (or failing, under
// make test) when there is none.
func chromiumBinary(t *testing.T) string {
	t.Helper()
	return binary.Find(t, "CHROMIUM_BIN", "chromium", "chromium")
}

// browser starts a headless chromium with a fresh profile and page scripts
// disabled: the page must work without JavaScript. It stops with the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	bin := chromiumBinary(t)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first call starts the browser and must not carry a deadline (it
	// would stop the browser); the test's own timeout bounds it.
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// within runs one action with a deadline and returns its value.
func within[T any](t *testing.T, ctx context.Context, d time.Duration, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// seen is what a person sees on the page at one moment.
type seen struct {
	healthClass  string // class attribute of the health banner
	healthText   string
	healthColour string // computed background colour of the banner
	activeRows   []string
	clearedRows  []string
	sourceText   string
	amText       string
	rendered     string // the "Rendered ..." line, which changes on every load
}

func (s seen) String() string {
	return fmt.Sprintf("health %q (%s, %s); active %q; cleared %q", s.healthText, s.healthClass, s.healthColour, s.activeRows, s.clearedRows)
}

// look reads the page as it is now, without reloading it.
func look(ctx context.Context) (seen, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var s seen
	text := func(sel string, into *string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			v, err := chromedp.Text(chromedp.CSS(sel))(ctx, t)
			*into = strings.Join(strings.Fields(v), " ")
			return err
		})
	}
	rows := func(sel string, into *[]string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			nodes, err := chromedp.Nodes(chromedp.CSSAll(sel), chromedp.AtLeast(0))(ctx, t)
			if err != nil {
				return err
			}
			for _, n := range nodes {
				v, err := chromedp.Text(chromedp.NodeIDs{n.NodeID})(ctx, t)
				if err != nil {
					return err
				}
				*into = append(*into, strings.Join(strings.Fields(v), " "))
			}
			return nil
		})
	}
	err := chromedp.Do(ctx,
		chromedp.WaitReady(chromedp.CSS("#build")), // the page has loaded to its end
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			class, err := chromedp.AttributeValue(chromedp.CSS("#health"), "class")(ctx, t)
			s.healthClass = class.Value
			return err
		}),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			style, err := chromedp.ComputedStyle(chromedp.CSS("#health"))(ctx, t)
			for _, p := range style {
				if p.Name == "background-color" {
					s.healthColour = p.Value
				}
			}
			return err
		}),
		text("#health", &s.healthText),
		text("header p", &s.rendered),
		text("#sources", &s.sourceText),
		text("#alertmanagers", &s.amText),
		rows("#active-alarms tr.alarm", &s.activeRows),
		rows("#cleared-alarms tr.alarm", &s.clearedRows),
	)
	return s, err
}

// waitSeen polls what the page shows until cond holds, reloading it first
// when reload is set (otherwise the page must refresh itself), and fails
// the test at the deadline with what was last seen.
func waitSeen(t *testing.T, ctx context.Context, url string, reload bool, d time.Duration, what string, cond func(seen) bool) seen {
	t.Helper()
	var last seen
	var lastErr error
	wait.ForNoError(t, what, d, func() (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		if reload {
			if err := navigate(ctx, url); err != nil {
				lastErr = err
			}
		}
		// Errors while the page reloads itself are expected: look again.
		s, err := look(ctx)
		if err == nil && cond(s) {
			last = s
			return true, nil
		}
		last, lastErr = s, err
		return false, nil
	}, wait.Every(250*time.Millisecond), wait.Detail(func() string { return fmt.Sprintf("last seen: %v (err %v)", last, lastErr) }))
	return last
}

func navigate(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return chromedp.Do(ctx, chromedp.Navigate(url))
}

// Colours of the health banner (status.css --ok and --bad).
const (
	green = "rgb(26, 127, 55)"
	red   = "rgb(207, 34, 46)"
)

// TestStatusPageInBrowser opens /status in a real chromium, with page
// scripts off, while the exporter's etcd goes away and comes back, and
// checks what a person sees: the red banner with its reason and the alarm
// row during the outage, the page refreshing itself, both gone after
// recovery, and the domain filter form.
func TestStatusPageInBrowser(t *testing.T) {
	ctx := browser(t)

	dir := t.TempDir()
	server := registrytest.StartEtcd(t, embedetcd.Options{Dir: dir})
	address := strings.TrimPrefix(server.Endpoint, "http://")
	c := registrytest.Client(t, server.Endpoint)
	populate, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := registrytest.Populate(populate, c, registrytest.Shape{Domains: 6, Services: 30, Instances: 120}); err != nil {
		t.Fatal(err)
	}
	am := amtest.Start(t)
	cfgFile := filepath.Join(t.TempDir(), "config.yml")
	writeFile(t, cfgFile, fmt.Sprintf("sources:\n  - name: main\n    etcd:\n      endpoints: [%s]\nalerting:\n  resend_interval: 2s\n  alertmanagers:\n    - url: %s\n",
		server.Endpoint, am.URL))
	e := startExporter(t, "--config.file", cfgFile)
	e.waitFor("ready", func() bool { s, _ := e.get("/-/ready", nil); return s == 200 })
	page := e.baseURL + "/status"

	within(t, ctx, 15*time.Second, chromedp.Navigate(page))
	healthy := func(s seen) bool {
		return strings.Contains(s.healthClass, "ok") && s.healthColour == green && len(s.activeRows) == 0
	}
	before := waitSeen(t, ctx, page, true, 10*time.Second, "a green page", func(s seen) bool {
		return healthy(s) && strings.Contains(s.sourceText, "UP") && strings.Contains(s.sourceText, "6 domains")
	})
	if !strings.Contains(before.amText, am.URL) {
		t.Errorf("the Alertmanager is not listed: %q", before.amText)
	}

	// The outage. The page is not reloaded by the test: its own refresh
	// must bring the news.
	server.Close()
	during := waitSeen(t, ctx, page, false, 30*time.Second, "the red banner and the alarm row", func(s seen) bool {
		return strings.Contains(s.healthClass, "bad") && s.healthColour == red && len(s.activeRows) == 1
	})
	if during.rendered == before.rendered {
		t.Error("the page did not reload itself")
	}
	if !strings.Contains(during.healthText, "Unhealthy") || !strings.Contains(during.healthText, address) {
		t.Errorf("health banner %q: want Unhealthy with the unreachable endpoint", during.healthText)
	}
	if row := during.activeRows[0]; !strings.HasPrefix(row, "BackendConnectionRefuse exporter") || !strings.Contains(row, address) {
		t.Errorf("alarm row %q: want BackendConnectionRefuse from the exporter, with the endpoint", row)
	}
	if !strings.Contains(during.sourceText, "DOWN") {
		t.Errorf("the source is not shown DOWN: %q", during.sourceText)
	}
	if *statusScreenshot != "" {
		png := within(t, ctx, 15*time.Second, chromedp.FullScreenshot(100))
		if err := os.WriteFile(*statusScreenshot, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot saved to %s", *statusScreenshot)
	}

	// Recovery, on the same port and data.
	registrytest.StartEtcd(t, embedetcd.Options{Dir: dir, ClientAddress: address})
	after := waitSeen(t, ctx, page, true, 60*time.Second, "a green page again", healthy)
	if len(after.clearedRows) == 0 || !strings.HasPrefix(after.clearedRows[0], "BackendConnectionRefuse exporter") {
		t.Errorf("recently cleared %q: want the BackendConnectionRefuse alarm", after.clearedRows)
	}

	// The filter is a plain form: typing a domain and pressing Enter lists
	// only the matching domain, with its projects open.
	within(t, ctx, 15*time.Second, chromedp.Steps(
		chromedp.SendKeys(chromedp.CSS("#domain"), "tenant-0003"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("details[open]")),
	))
	location := within(t, ctx, 5*time.Second, chromedp.Location())
	open := within(t, ctx, 5*time.Second, chromedp.Nodes(chromedp.CSSAll("details[open]")))
	listed := within(t, ctx, 5*time.Second, chromedp.Text(chromedp.CSS("table.domains tbody")))
	if !strings.HasSuffix(location, "/status?domain=tenant-0003") {
		t.Errorf("the form went to %s", location)
	}
	if len(open) != 1 || !strings.Contains(listed, "tenant-0003") || strings.Contains(listed, "tenant-0002") {
		t.Errorf("filtered list: %d open, %q", len(open), listed)
	}
}
