package haproxy

import (
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

// maxNameLen bounds the server names the driver creates. Longer IDs get a
// truncated name with a hash suffix.
const maxNameLen = 64

// hashMark starts the hash suffix of a shortened name. It cannot occur in
// an escaped name: escapes are '_' followed by two upper-case hex digits.
const hashMark = "_h"

const hexDigits = "0123456789ABCDEF"

// keep reports whether c may appear as itself in a server name. HAProxy
// identifiers take letters, digits, '-', '_', '.' and ':'; '_' is kept
// for escapes.
func keep(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == ':'
}

// serverName maps a backend ID (a Mesos task ID, any string) to a valid
// HAProxy server name. The mapping is injective: bytes HAProxy does not
// take in a name, and '_' itself, become "_XX" (hex), so distinct IDs never
// share a name and short names decode back to their ID (see idFromName).
// An escaped name longer than 64 bytes is cut to 48 bytes (never inside
// an escape) and ends with "_h" and 13 base32 characters of the ID's
// SHA-256 (65 bits): distinct from every escaped name, and collision-free in
// practice.
func serverName(id string) string {
	var b strings.Builder
	b.Grow(len(id))
	for i := 0; i < len(id); i++ {
		c := id[i]
		if keep(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('_')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	name := b.String()
	if len(name) <= maxNameLen {
		return name
	}
	cut := 48
	// Do not split an escape: back up to its '_'.
	for i := cut - 1; i >= cut-2 && i >= 0; i-- {
		if name[i] == '_' {
			cut = i
			break
		}
	}
	sum := sha256.Sum256([]byte(id))
	return name[:cut] + hashMark + strings.ToLower(base32.StdEncoding.EncodeToString(sum[:])[:13])
}

// idFromName decodes a name made by serverName. It reports false for a
// name serverName cannot have made (a static server from the
// configuration, or a shortened name whose ID only the hash keeps).
func idFromName(name string) (string, bool) {
	if name == "" {
		return "", false
	}
	if strings.IndexByte(name, '_') < 0 {
		for i := 0; i < len(name); i++ {
			if !keep(name[i]) {
				return "", false
			}
		}
		return name, true // nothing escaped: the name is the ID
	}
	var b strings.Builder
	b.Grow(len(name))
	for i := 0; i < len(name); i++ {
		c := name[i]
		if keep(c) {
			b.WriteByte(c)
			continue
		}
		if c != '_' || i+2 >= len(name) {
			return "", false
		}
		hi, lo := strings.IndexByte(hexDigits, name[i+1]), strings.IndexByte(hexDigits, name[i+2])
		if hi < 0 || lo < 0 {
			return "", false
		}
		v := byte(hi<<4 | lo)
		if keep(v) {
			return "", false // serverName never escapes these: not ours
		}
		b.WriteByte(v)
		i += 2
	}
	return b.String(), true
}
