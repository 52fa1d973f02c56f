package haproxy

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// The lines that enclose the servers the driver writes into the managed
// backend's section of Config.ConfigFile. Everything between them is the
// driver's; everything else in the file is left byte for byte as it was.
const (
	MarkerBegin = "# webfarm: servers begin (written by lb/haproxy from the live pool; do not edit)"
	MarkerEnd   = "# webfarm: servers end"
)

// markerBeginPrefix and markerEndPrefix recognise the markers (a user may
// have shortened the begin line's comment).
const (
	markerBeginPrefix = "# webfarm: servers begin"
	markerEndPrefix   = "# webfarm: servers end"
)

// ErrNotSaved is wrapped by the error of a membership change that HAProxy
// applied but that could not be written to Config.ConfigFile. The live
// pool has changed; the file has not, and a restart would start from the
// file's older pool. Every write renders the whole pool, so the next
// successful change (or a retry of this one: Add, Drain and Remove are
// idempotent) brings the file up to date.
var ErrNotSaved = errors.New("pool changed but not saved to the config file")

// sectionKeywords start a section of haproxy.cfg (HAProxy 2.6 to 3.x).
var sectionKeywords = map[string]bool{
	"global": true, "defaults": true, "frontend": true, "backend": true, "listen": true,
	"userlist": true, "peers": true, "resolvers": true, "mailers": true, "program": true,
	"http-errors": true, "ring": true, "cache": true, "fcgi-app": true, "log-forward": true,
	"crt-store": true, "traces": true, "acme": true,
}

// fileServer is one server line the driver writes.
type fileServer struct {
	name     string
	addr     netip.AddrPort
	disabled bool   // written with "disabled": comes back in maintenance
	id       string // written in a trailing comment when name does not decode to it
}

// line renders s as a server line (without indentation or line ending).
func (s fileServer) line(options string) string {
	var b strings.Builder
	b.WriteString("server ")
	b.WriteString(s.name)
	b.WriteByte(' ')
	b.WriteString(s.addr.String())
	if options != "" {
		b.WriteByte(' ')
		b.WriteString(options)
	}
	if s.disabled {
		b.WriteString(" disabled")
	}
	if got, ok := idFromName(s.name); !ok || got != s.id {
		b.WriteString(" # id ")
		b.WriteString(strconv.QuoteToASCII(s.id))
	}
	return b.String()
}

// cfgLine is one line of haproxy.cfg with its line ending.
type cfgLine struct {
	text string // the line with its ending ("\n", "\r\n", or none at EOF)
}

func (l cfgLine) content() string { return strings.TrimRight(l.text, "\r\n") }

// fields returns the words of the line before any comment.
func (l cfgLine) fields() []string {
	c := l.content()
	if i := strings.IndexByte(c, '#'); i >= 0 {
		c = c[:i]
	}
	return strings.Fields(c)
}

func splitLines(text string) []cfgLine {
	if text == "" {
		return nil
	}
	parts := strings.SplitAfter(text, "\n")
	if parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	out := make([]cfgLine, len(parts))
	for i, p := range parts {
		out[i] = cfgLine{p}
	}
	return out
}

// backendBlock is where the managed backend's section and the driver's
// block are in a configuration.
type backendBlock struct {
	header     int // index of the `backend <name>` (or `listen <name>`) line
	end        int // index after the section's last line
	begin, fin int // indices of the markers; -1 when absent
	static     map[string]bool
	managed    map[string]string // server name → ID, from the block's `# id` comments and names
}

// findBackend locates backend's section and the markers inside it. It
// returns an error naming the problem when the section is missing or
// appears twice, or when the markers are not one begin line followed by
// one end line.
func findBackend(lines []cfgLine, backend string) (backendBlock, error) {
	bb := backendBlock{header: -1, begin: -1, fin: -1, static: map[string]bool{}, managed: map[string]string{}}
	for i, l := range lines {
		f := l.fields()
		if len(f) == 0 || !sectionKeywords[f[0]] {
			continue
		}
		if bb.header >= 0 && bb.end == 0 {
			bb.end = i
		}
		if (f[0] == "backend" || f[0] == "listen") && len(f) >= 2 && f[1] == backend {
			if bb.header >= 0 {
				return bb, fmt.Errorf("section %q appears twice (lines %d and %d)", backend, bb.header+1, i+1)
			}
			bb.header, bb.end = i, 0
		}
	}
	if bb.header < 0 {
		return bb, fmt.Errorf("no `backend %s` (or `listen %s`) section", backend, backend)
	}
	if bb.end == 0 {
		bb.end = len(lines)
	}
	for i := bb.header + 1; i < bb.end; i++ {
		c := strings.TrimSpace(lines[i].content())
		switch {
		case strings.HasPrefix(c, markerBeginPrefix):
			if bb.begin >= 0 {
				return bb, fmt.Errorf("backend %s: two %q lines (%d and %d)", backend, markerBeginPrefix, bb.begin+1, i+1)
			}
			bb.begin = i
		case strings.HasPrefix(c, markerEndPrefix):
			if bb.fin >= 0 {
				return bb, fmt.Errorf("backend %s: two %q lines (%d and %d)", backend, markerEndPrefix, bb.fin+1, i+1)
			}
			bb.fin = i
		}
	}
	switch {
	case bb.begin < 0 && bb.fin < 0:
	case bb.begin < 0 || bb.fin < 0 || bb.fin < bb.begin:
		return bb, fmt.Errorf("backend %s: the markers %q and %q must both be there, in that order, or neither (fix the file by hand)",
			backend, markerBeginPrefix, markerEndPrefix)
	}
	for i := bb.header + 1; i < bb.end; i++ {
		f := lines[i].fields()
		if len(f) < 2 || f[0] != "server" {
			continue
		}
		if bb.begin >= 0 && i > bb.begin && i < bb.fin {
			bb.managed[f[1]] = idOfLine(lines[i].content(), f[1])
		} else {
			bb.static[f[1]] = true
		}
	}
	return bb, nil
}

// idOfLine reads the ID of a server line the driver wrote: from its
// `# id "…"` comment, else from its name.
func idOfLine(content, name string) string {
	if i := strings.Index(content, "# id "); i >= 0 {
		if id, err := strconv.Unquote(strings.TrimSpace(content[i+len("# id "):])); err == nil {
			return id
		}
	}
	if id, ok := idFromName(name); ok {
		return id
	}
	return name
}

// rewriteServers returns text with the lines between the markers in
// backend's section replaced by servers (sorted by name), rendered with
// options. The first time, it inserts the markers after the section's
// last directive. Every other line, other sections included, is kept as
// it was; inserted lines use the file's line ending (CRLF if its first
// line ends so). Servers whose name a line outside the markers already
// defines are skipped (HAProxy refuses duplicate names); skipped lists
// them.
func rewriteServers(text, backend string, servers []fileServer, options string) (out string, skipped []string, err error) {
	if strings.IndexByte(text, 0) >= 0 {
		return "", nil, errors.New("the file contains a NUL byte: not a configuration")
	}
	lines := splitLines(text)
	bb, err := findBackend(lines, backend)
	if err != nil {
		return "", nil, err
	}
	eol := "\n"
	if len(lines) > 0 && strings.HasSuffix(lines[0].text, "\r\n") {
		eol = "\r\n"
	}
	servers = slices.Clone(servers)
	slices.SortFunc(servers, func(a, b fileServer) int { return strings.Compare(a.name, b.name) })
	var block []string
	block = append(block, "    "+MarkerBegin+eol)
	for _, s := range servers {
		if bb.static[s.name] {
			skipped = append(skipped, s.name)
			continue
		}
		block = append(block, "    "+s.line(options)+eol)
	}
	from, to := bb.begin, bb.fin+1 // replace [from, to)
	if bb.begin >= 0 {
		// Keep the user's own begin and end lines (indentation, wording).
		block[0] = lines[bb.begin].text
		block = append(block, lines[bb.fin].text)
	} else {
		block = append(block, "    "+MarkerEnd+eol)
		from = bb.header + 1
		for i := bb.header + 1; i < bb.end; i++ {
			c := strings.TrimSpace(lines[i].content())
			if c != "" && !strings.HasPrefix(c, "#") {
				from = i + 1
			}
		}
		to = from
	}
	var b strings.Builder
	b.Grow(len(text) + 128*len(block))
	for _, l := range lines[:from] {
		b.WriteString(l.text)
	}
	if from > 0 && !strings.HasSuffix(lines[from-1].text, "\n") {
		b.WriteString(eol) // the file's last line had no line ending
	}
	for _, l := range block {
		b.WriteString(l)
	}
	for _, l := range lines[to:] {
		b.WriteString(l.text)
	}
	return b.String(), skipped, nil
}

// configFile is Config.ConfigFile, resolved, and what New read from it.
type configFile struct {
	path string // symlinks resolved: the rename replaces the file, not the link
}

// openConfigFile checks that path is a regular file that holds backend's
// section with sane markers, and that the file and its directory are
// writable (a temporary file is created and removed there). It returns
// the resolved path and the IDs of the servers in the driver's block.
func openConfigFile(path, backend string) (configFile, map[string]string, error) {
	bad := func(detail, fix string, err error) (configFile, map[string]string, error) {
		return configFile{}, nil, &ConfigError{Problem: ProblemConfigFile, Detail: "ConfigFile " + path + ": " + detail, Fix: fix, Err: err}
	}
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		return bad("cannot be read", "set Config.ConfigFile to the haproxy.cfg HAProxy runs with (-f)", err)
	}
	fi, err := os.Stat(resolved)
	if err != nil {
		return bad("cannot be read", "set Config.ConfigFile to the haproxy.cfg HAProxy runs with (-f)", err)
	}
	if !fi.Mode().IsRegular() {
		return bad("is not a regular file ("+fi.Mode().String()+")", "give the haproxy.cfg file itself, not a directory of configuration files", nil)
	}
	data, err := os.ReadFile(resolved)
	if err != nil {
		return bad("cannot be read", "make it readable by this process", err)
	}
	if strings.IndexByte(string(data), 0) >= 0 {
		return bad("contains a NUL byte", "give HAProxy's text configuration file", nil)
	}
	bb, err := findBackend(splitLines(string(data)), backend)
	if err != nil {
		return bad(err.Error(), fmt.Sprintf("add `backend %s` to it (with `balance roundrobin`), or set Config.Backend; markers are %q and %q", backend, markerBeginPrefix, markerEndPrefix), nil)
	}
	f, err := os.OpenFile(resolved, os.O_WRONLY, 0)
	if err != nil {
		return bad("is not writable", "let this process write the file (and its directory, for the atomic rename)", err)
	}
	f.Close()
	tmp, err := os.CreateTemp(filepath.Dir(resolved), ".webfarm-probe-*")
	if err != nil {
		return bad("its directory is not writable (needed to replace the file atomically)", "let this process create files in "+filepath.Dir(resolved), err)
	}
	tmp.Close()
	os.Remove(tmp.Name())
	return configFile{path: resolved}, bb.managed, nil
}

// write replaces the driver's block in the file with servers, atomically:
// a temporary file in the same directory with the old file's mode (and
// owner, where permitted), synced, then renamed over it. It does nothing
// when the text would not change.
func (cf configFile) write(backend string, servers []fileServer, options string) (skipped []string, err error) {
	fi, err := os.Stat(cf.path)
	if err != nil {
		return nil, err
	}
	old, err := os.ReadFile(cf.path)
	if err != nil {
		return nil, err
	}
	text, skipped, err := rewriteServers(string(old), backend, servers, options)
	if err != nil {
		return nil, err
	}
	if text == string(old) {
		return skipped, nil
	}
	dir := filepath.Dir(cf.path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(cf.path)+".webfarm-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
		tmp.Close()
		return nil, err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		_ = tmp.Chown(int(st.Uid), int(st.Gid)) // keeps the owner when we may (root); else ours
	}
	if _, err := tmp.WriteString(text); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp.Name(), cf.path); err != nil {
		return nil, err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return skipped, nil
}

// persist writes the pool into Config.ConfigFile (nothing if unset): every
// member by its server name, a draining one "disabled". Errors wrap
// ErrNotSaved.
func (b *Balancer) persist() error {
	if b.file == nil {
		return nil
	}
	b.fileMu.Lock()
	defer b.fileMu.Unlock()
	b.mu.Lock()
	named := make(map[string]string, len(b.names)) // ID → name, for adopted servers named otherwise
	for n, id := range b.names {
		named[id] = n
	}
	servers := make([]fileServer, 0, len(b.pool))
	for id, m := range b.pool {
		name, ok := named[id]
		if !ok {
			name = serverName(id)
		}
		servers = append(servers, fileServer{name: name, addr: m.backend.Addr, disabled: m.draining, id: id})
	}
	b.mu.Unlock()
	skipped, err := b.file.write(b.cfg.Backend, servers, b.cfg.ServerOptions)
	if err != nil {
		b.log.Error("could not save the pool to the config file: a restart would start from its older pool", "file", b.file.path, "err", err)
		return fmt.Errorf("%w: %s: %w", ErrNotSaved, b.file.path, err)
	}
	if len(skipped) > 0 {
		b.log.Debug("servers defined outside the driver's block of the config file are not written again", "servers", skipped)
	}
	return nil
}
