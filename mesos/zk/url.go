package zk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	gozk "github.com/go-zookeeper/zk"
)

// ErrInvalid is wrapped by every error about a bad argument, such as a
// malformed zk:// URL.
var ErrInvalid = errors.New("invalid argument")

// URL is a parsed zk://[user:pass@]host:port[,host:port…]/path, the form
// Mesos takes for its --zk and --master flags.
type URL struct {
	// Servers are the ensemble's "host:port" client addresses.
	Servers []string
	// Path is the znode under which the members register, e.g. "/mesos".
	Path string
	// User and Password, if set, are sent as digest authentication
	// ("user:pass"), as Mesos does for credentials in its zk:// URL.
	User, Password string
}

// IsURL reports whether s is meant as a zk:// URL (its scheme is zk),
// valid or not.
func IsURL(s string) bool {
	return len(s) >= 5 && strings.EqualFold(s[:5], "zk://")
}

// ParseURL parses a zk:// URL. Each server needs a host and a port; the
// path must be absolute, not "/", with no empty, "." or ".." element.
func ParseURL(s string) (URL, error) {
	bad := func(why string) (URL, error) {
		return URL{}, fmt.Errorf("zk: URL %q: %s: %w", Redact(s), why, ErrInvalid)
	}
	if !IsURL(s) {
		return bad("want zk://[user:pass@]host:port[,host:port…]/path")
	}
	rest := s[5:]
	var u URL
	if at := strings.LastIndexByte(strings.SplitN(rest, "/", 2)[0], '@'); at >= 0 {
		cred := rest[:at]
		rest = rest[at+1:]
		user, pass, ok := strings.Cut(cred, ":")
		if !ok || user == "" {
			return bad("credentials must be user:password")
		}
		var err error
		if u.User, err = url.PathUnescape(user); err != nil {
			return bad("credentials: " + err.Error())
		}
		if u.Password, err = url.PathUnescape(pass); err != nil {
			return bad("credentials: " + err.Error())
		}
	}
	hosts, path, ok := strings.Cut(rest, "/")
	if !ok {
		return bad("no path")
	}
	path = "/" + strings.TrimSuffix(path, "/")
	if path == "/" {
		return bad("the path must name a znode, e.g. /mesos")
	}
	if strings.ContainsAny(path, "?#\x00") {
		return bad("query, fragment or NUL in the path")
	}
	for _, el := range strings.Split(path[1:], "/") {
		if el == "" || el == "." || el == ".." {
			return bad(fmt.Sprintf("path %q has an empty, '.' or '..' element", path))
		}
	}
	u.Path = path
	for _, h := range strings.Split(hosts, ",") {
		host, port, err := net.SplitHostPort(h)
		if err != nil || host == "" || port == "" {
			return bad(fmt.Sprintf("server %q: want host:port", h))
		}
		if p, err := net.LookupPort("tcp", port); err != nil || p == 0 {
			return bad(fmt.Sprintf("server %q: bad port", h))
		}
		u.Servers = append(u.Servers, h)
	}
	return u, nil
}

// String returns the URL with the password replaced by "xxxxx".
func (u URL) String() string {
	cred := ""
	if u.User != "" {
		cred = url.PathEscape(u.User) + ":xxxxx@"
	}
	return "zk://" + cred + strings.Join(u.Servers, ",") + u.Path
}

// Redact returns s with the password of a zk:// URL in it replaced by
// "xxxxx", for logs and errors. Strings that are not zk:// URLs come back
// as they are.
func Redact(s string) string {
	if !IsURL(s) {
		return s
	}
	hostPart := strings.SplitN(s[5:], "/", 2)[0]
	at := strings.LastIndexByte(hostPart, '@')
	if at < 0 {
		return s
	}
	user, _, _ := strings.Cut(hostPart[:at], ":")
	return s[:5] + user + ":xxxxx@" + s[5+at+1:]
}

// acl is the ACL of the znodes this package creates: everyone may read,
// and with credentials only their creator may change them
// (ZOO_OPEN_ACL_UNSAFE without credentials; EVERYONE_READ_CREATOR_ALL with
// them, as the GroupProcess constructor in Mesos's src/zookeeper/group.cpp picks for a zk:// URL
// that carries credentials).
func (u URL) acl() []gozk.ACL {
	if u.User == "" {
		return gozk.WorldACL(gozk.PermAll)
	}
	return []gozk.ACL{
		{Perms: gozk.PermRead, Scheme: "world", ID: "anyone"},
		{Perms: gozk.PermAll, Scheme: "auth", ID: ""},
	}
}

// connect opens a session to u's servers and authenticates. It returns
// once the session is established or ctx ends. Events of the connection
// come on the returned channel (buffered; go-zookeeper drops none).
func connect(ctx context.Context, u URL, sessionTimeout time.Duration, log *slog.Logger) (*gozk.Conn, <-chan gozk.Event, error) {
	conn, events, err := gozk.Connect(u.Servers, sessionTimeout,
		gozk.WithLogger(slogAdapter{log}), gozk.WithLogInfo(false))
	if err != nil {
		return nil, nil, fmt.Errorf("zk: connect %s: %w", u, err)
	}
	// Wait for the session: Connect returns before it exists.
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return nil, nil, fmt.Errorf("zk: connect %s: connection closed", u)
			}
			if ev.State == gozk.StateHasSession {
				if u.User != "" {
					if err := conn.AddAuth("digest", []byte(u.User+":"+u.Password)); err != nil {
						conn.Close()
						return nil, nil, fmt.Errorf("zk: authenticate to %s: %w", u, err)
					}
				}
				return conn, events, nil
			}
			if ev.State == gozk.StateAuthFailed {
				conn.Close()
				return nil, nil, fmt.Errorf("zk: connect %s: authentication failed", u)
			}
		case <-ctx.Done():
			conn.Close()
			return nil, nil, fmt.Errorf("zk: connect %s: %w", u, ctx.Err())
		}
	}
}

// ensurePath creates path and its parents as persistent znodes where
// missing.
func ensurePath(conn *gozk.Conn, path string, acl []gozk.ACL) error {
	p := ""
	for _, el := range strings.Split(strings.TrimPrefix(path, "/"), "/") {
		p += "/" + el
		if _, err := conn.Create(p, nil, 0, acl); err != nil && !errors.Is(err, gozk.ErrNodeExists) {
			return fmt.Errorf("zk: create %s: %w", p, err)
		}
	}
	return nil
}

// slogAdapter routes go-zookeeper's log lines to slog at Debug.
type slogAdapter struct{ log *slog.Logger }

// Printf implements go-zookeeper's Logger.
func (a slogAdapter) Printf(format string, args ...any) {
	if a.log != nil {
		a.log.Debug("zk: " + fmt.Sprintf(format, args...))
	}
}
