package testenv

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
)

// SecretForms returns the forms in which a basic-auth secret could leak
// into logs or errors: the secret itself, and the base64 of
// "principal:secret" that an Authorization: Basic header carries
// (RFC 7617, section 2), so a logged request header is caught too.
func SecretForms(principal, secret string) map[string]string {
	return map[string]string{
		"the secret": secret,
		"the basic-auth credentials (base64 of principal:secret)": base64.StdEncoding.EncodeToString([]byte(principal + ":" + secret)),
	}
}

// SecretLeaks returns one line per form of the secret (see [SecretForms])
// that text contains, saying how often; none when it contains none.
func SecretLeaks(text, principal, secret string) []string {
	var out []string
	for name, form := range SecretForms(principal, secret) {
		if n := strings.Count(text, form); n > 0 {
			out = append(out, fmt.Sprintf("%s appears %d times", name, n))
		}
	}
	slices.Sort(out)
	return out
}
