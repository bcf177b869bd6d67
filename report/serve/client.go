package serve

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/buildstats/buildstats/store"
)

// Client sends build logs to a server's POST /api/v1/builds.
type Client struct {
	// URL is the server's base URL (https://builds.example.com).
	URL string
	// Token is an ingest token of the builds' project.
	Token string
	// HTTP is the client to use; nil is http.DefaultClient.
	HTTP *http.Client
	// Mask, when set, is applied to each line of the log before it leaves
	// the machine (the values of the runner's secret variables, which the
	// server cannot know).
	Mask func(string) string
}

// Query is the query of POST /api/v1/builds that files a build under m:
// its project (when set: else the token's), branch, commit, CI run,
// runner, Dockerfile and tags.
func Query(m store.Meta) url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("project", m.Project)
	set("branch", m.Branch)
	set("commit", m.Commit)
	set("ci_url", m.RunURL)
	set("ci_provider", m.CIProvider)
	set("runner", m.Runner)
	set("dockerfile", m.Dockerfile)
	for _, t := range m.Tags {
		q.Add("tag", t)
	}
	return q
}

// SendError is a request the server refused or failed.
type SendError struct {
	Code    int    // the HTTP status
	Message string // the server's {"error"}
}

func (e *SendError) Error() string {
	return fmt.Sprintf("the server answered %d %s: %s", e.Code, http.StatusText(e.Code), e.Message)
}

// Fatal reports whether every other log would fail the same way: the
// token was refused, or the server or its history failed.
func (e *SendError) Fatal() bool {
	return e.Code == http.StatusUnauthorized || e.Code == http.StatusForbidden || e.Code >= 500
}

// Send posts the log r, gzip-compressed, with the query parameters q
// (project, branch, commit, ci_url...). It returns the server's answer
// and, with it, the build page's absolute URL.
func (c *Client) Send(ctx context.Context, r io.Reader, q url.Values) (Stored, error) {
	base, err := url.Parse(strings.TrimSuffix(c.URL, "/"))
	if err != nil || base.Scheme != "http" && base.Scheme != "https" || base.Host == "" {
		return Stored{}, fmt.Errorf("--server %q is not an http(s) URL", c.URL)
	}
	u := *base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v1/builds"
	u.RawQuery = q.Encode()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(c.compress(pw, r)) }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), pr)
	if err != nil {
		pr.Close()
		return Stored{}, err
	}
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+c.Token)
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	pr.Close()
	if err != nil {
		return Stored{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Stored{}, err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		var e errorBody
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
			if len(e.Error) > 200 {
				e.Error = e.Error[:200]
			}
		}
		return Stored{}, &SendError{Code: resp.StatusCode, Message: e.Error}
	}
	var st Stored
	if err := json.Unmarshal(data, &st); err != nil {
		return Stored{}, fmt.Errorf("the server's answer is not a stored build: %v", err)
	}
	if ref, err := url.Parse(st.URL); err == nil && !ref.IsAbs() {
		st.URL = base.ResolveReference(&url.URL{Path: strings.TrimSuffix(base.Path, "/") + ref.Path}).String()
	}
	return st, nil
}

// compress writes r to w gzip-compressed, masked line by line.
func (c *Client) compress(w io.Writer, r io.Reader) error {
	zw := gzip.NewWriter(w)
	if c.Mask == nil {
		if _, err := io.Copy(zw, r); err != nil {
			return err
		}
		return zw.Close()
	}
	br := bufio.NewReaderSize(r, 1<<16)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			body, nl := strings.CutSuffix(line, "\n")
			if _, werr := io.WriteString(zw, c.Mask(body)); werr != nil {
				return werr
			}
			if nl {
				zw.Write([]byte{'\n'})
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	return zw.Close()
}
