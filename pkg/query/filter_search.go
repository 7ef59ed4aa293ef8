package query

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Search modes (Filter.SearchMode).
const (
	// SearchText matches a substring, letter case as typed (the default).
	SearchText = "text"
	// SearchCaseInsensitive matches a substring in any letter case.
	SearchCaseInsensitive = "caseInsensitive"
	// SearchRegex matches an RE2 regular expression (linear time in the line, no
	// back-references or look-around).
	SearchRegex = "regex"
)

// searchModes lists the modes in the order messages name them.
var searchModes = []string{SearchText, SearchCaseInsensitive, SearchRegex}

// MaxSearchLen bounds the search text (and regex) of one query.
const MaxSearchLen = 1024

// Mode returns the filter's search mode, SearchText when none is set.
func (f *Filter) Mode() string {
	if f.SearchMode == "" {
		return SearchText
	}
	return f.SearchMode
}

// validateSearch checks the filter's search options.
func (f *Filter) validateSearch() error {
	mode := f.Mode()
	if !slicesContains(searchModes, mode) {
		return errorf("unknown searchMode %q: use text (substring, as typed), caseInsensitive (substring, any letter case) or regex (an RE2 regular expression)", f.SearchMode)
	}
	if len(f.Search) > MaxSearchLen {
		return errorf("search is %d bytes long, more than the maximum of %d: shorten it", len(f.Search), MaxSearchLen)
	}
	if mode == SearchRegex && f.Search != "" {
		if _, err := regexp.Compile(f.Search); err != nil {
			return errorf("invalid search regex %q: %v (regexes are RE2: no back-references or look-around; escape special characters with \\, or set searchMode to text to search the text as typed)", f.Search, unwrapRegexpError(err))
		}
	}
	return nil
}

func unwrapRegexpError(err error) string {
	msg := err.Error()
	return strings.TrimPrefix(msg, "error parsing regexp: ")
}

func slicesContains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// searcher matches the search of a filter against a line and against the decoded request URI.
type searcher struct {
	text [][]byte       // text mode: the text as typed, and as JSON writes it when different
	re   *regexp.Regexp // caseInsensitive and regex modes
}

func (s *searcher) match(b []byte) bool {
	if s.re != nil {
		return s.re.Match(b)
	}
	for _, t := range s.text {
		if bytes.Contains(b, t) {
			return true
		}
	}
	return false
}

// jsonForm is how encoding/json (and so kube-apiserver) writes s inside a JSON string: `&`,
// `<` and `>` become \u0026 etc., quotes and backslashes are escaped.
func jsonForm(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// compileSearch sets up the filter's text search (validated already).
func (m *Matcher) compileSearch(f *Filter) {
	if f.Search == "" {
		return
	}
	s := &searcher{}
	forms := []string{f.Search}
	if j := jsonForm(f.Search); j != f.Search {
		forms = append(forms, j)
	}
	switch f.Mode() {
	case SearchRegex:
		s.re = regexp.MustCompile(f.Search)
	case SearchCaseInsensitive:
		quoted := make([]string, len(forms))
		for i, v := range forms {
			quoted[i] = regexp.QuoteMeta(v)
		}
		s.re = regexp.MustCompile("(?i)(?:" + strings.Join(quoted, "|") + ")")
	default:
		for _, v := range forms {
			s.text = append(s.text, []byte(v))
		}
	}
	m.search = s
}

// MatchLine tests the search on the raw line, before decoding: false means the event cannot
// match. The search matches the line as written, or its request URI decoded (percent-escapes
// and + undone, JSON escapes undone) followed by, for exec requests, the command line (the
// command= arguments joined by spaces): `cat /var/run` finds
// .../exec?command=cat&command=%2Fvar%2Frun%2Fsecrets.
func (m *Matcher) MatchLine(line []byte) bool {
	if m.search == nil || m.search.match(line) {
		return true
	}
	if text, ok := decodedURIText(line); ok {
		return m.search.match(text)
	}
	return false
}

// NeedsLine reports whether matching needs the raw line (a text search), not only decoded
// fields: such a filter cannot be answered from a column index.
func (m *Matcher) NeedsLine() bool { return m.search != nil }

var uriKey = []byte(`"requestURI":"`)

// decodedURIText returns the decoded form of the line's request URI (see MatchLine); ok is
// false when it is the same as the raw URI, or the line has none.
func decodedURIText(line []byte) ([]byte, bool) {
	i := bytes.Index(line, uriKey)
	if i < 0 {
		return nil, false
	}
	rest := line[i+len(uriKey)-1:]
	end, escaped := 1, false
	for ; end < len(rest); end++ {
		if rest[end] == '\\' {
			escaped = true
			end++
			continue
		}
		if rest[end] == '"' {
			break
		}
	}
	if end >= len(rest) {
		return nil, false
	}
	uri := string(rest[1:end])
	if escaped {
		if json.Unmarshal(rest[:end+1], &uri) != nil {
			return nil, false
		}
	}
	if !strings.ContainsAny(uri, "%+") && !strings.Contains(uri, "command=") && !escaped {
		return nil, false
	}
	return []byte(DecodeURI(uri)), true
}

// DecodeURI is the text a search matches a request URI against: its path and query with
// percent-escapes (and + in the query) decoded, then, when it has command= arguments (exec),
// a newline and the command line, the arguments joined by spaces.
func DecodeURI(uri string) string {
	path, rawQuery, hasQuery := strings.Cut(uri, "?")
	var b strings.Builder
	if p, err := url.PathUnescape(path); err == nil {
		b.WriteString(p)
	} else {
		b.WriteString(path)
	}
	if hasQuery {
		b.WriteByte('?')
		if q, err := url.QueryUnescape(rawQuery); err == nil {
			b.WriteString(q)
		} else {
			b.WriteString(rawQuery)
		}
		if vals, _ := url.ParseQuery(rawQuery); len(vals["command"]) > 0 {
			b.WriteByte('\n')
			b.WriteString(strings.Join(vals["command"], " "))
		}
	}
	return b.String()
}

var percentEscape = regexp.MustCompile(`%[0-9A-Fa-f]{2}|\\u00[0-9A-Fa-f]{2}`)

// SearchHint is what to tell the user when a search matched no event and its text looks
// encoded (a percent-escape such as %2F, or a JSON escape such as \u0026): request URIs and
// lines are searched in their decoded form too, so the plain text is what finds them. It is ""
// when no hint applies.
func (f *Filter) SearchHint() string {
	if f.Search == "" || f.Mode() == SearchRegex || !percentEscape.MatchString(f.Search) {
		return ""
	}
	plain := f.Search
	if p, err := url.QueryUnescape(plain); err == nil {
		plain = p
	}
	var u string
	if json.Unmarshal([]byte(`"`+strings.ReplaceAll(plain, `"`, `\"`)+`"`), &u) == nil {
		plain = u
	}
	if plain == f.Search {
		return ""
	}
	return fmt.Sprintf("the search %q matched no event; it looks encoded, and request URIs are also searched decoded (%%2F as /, \\u0026 as &): search for %q", f.Search, plain)
}

// SearchTokens returns words every line that the search can match must hold as typed (runs
// of letters, digits and - . _ ~, which URL and JSON encoders never escape), for sources to
// prefilter lines with; nil for regex searches. foldCase says the words may be in any case.
func (f *Filter) SearchTokens() (tokens []string, foldCase bool) {
	if f.Search == "" || f.Mode() == SearchRegex {
		return nil, false
	}
	for _, t := range unreservedRuns.FindAllString(f.Search, -1) {
		if !slicesContains(tokens, t) {
			tokens = append(tokens, t)
		}
	}
	return tokens, f.Mode() == SearchCaseInsensitive
}

// SearchIsLiteral reports whether a line matches the search exactly when it contains the text
// as typed (in the search's letter case mode): a text or case-insensitive search made only of
// characters that URL and JSON encoders never escape, so the decoded forms add no match.
func (f *Filter) SearchIsLiteral() bool {
	return f.Search != "" && f.Mode() != SearchRegex && unreservedOnly.MatchString(f.Search)
}

var (
	unreservedRuns = regexp.MustCompile(`[A-Za-z0-9._~-]+`)
	unreservedOnly = regexp.MustCompile(`^[A-Za-z0-9._~-]+$`)
)
