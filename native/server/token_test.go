package server

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The token file: created once (0600), the same token on every later
// start; a damaged file is refused naming it.
func TestTokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	a, err := TokenFromFile(path)
	if err != nil || len(a) != 64 {
		t.Fatalf("new token %q: %v", a, err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode: %v %v", st.Mode(), err)
	}
	if b, err := TokenFromFile(path); err != nil || b != a {
		t.Fatalf("second start: %q (%v), want %q", b, err, a)
	}
	os.WriteFile(path, []byte("not hex"), 0o600)
	if _, err := TokenFromFile(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("damaged token file: %v", err)
	}
}

// Opening the printed URL sets the cookie and redirects to the page
// without the token, so it does not stay in the address bar or history.
func TestTokenLeavesTheAddressBar(t *testing.T) {
	_, ts := newServerWith(t, func(c *Config) { c.Token = "abc123"; c.UIDir = t.TempDir() })
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Get(ts.URL + "/?token=abc123")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("status %d, location %q: want a redirect to /", res.StatusCode, res.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == cookieName {
			cookie = c
		}
	}
	if cookie == nil || cookie.Value != "abc123" {
		t.Fatal("no token cookie set")
	}
	req, _ := http.NewRequest("GET", ts.URL+"/", nil)
	req.AddCookie(cookie)
	res, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode == http.StatusUnauthorized {
		t.Fatal("the cookie alone is refused")
	}
}
