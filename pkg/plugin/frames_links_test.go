package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"
)

const linkUID = "audit-ds-uid"

func linkedDatasource(t *testing.T) *Datasource {
	t.Helper()
	inst, err := NewDatasource(context.Background(), backend.DataSourceInstanceSettings{UID: linkUID,
		JSONData: []byte(`{"source":"file","file":{"paths":["` + fixtureDir(t) + `"],"index":false}}`)})
	if err != nil {
		t.Fatal(err)
	}
	return inst.(*Datasource)
}

func queryFrame(t *testing.T, ds *Datasource, raw string) *data.Frame {
	t.Helper()
	resp, err := ds.QueryData(context.Background(), &backend.QueryDataRequest{Queries: []backend.DataQuery{{
		RefID: "A", JSON: []byte(raw), TimeRange: allTime, MaxDataPoints: 100, Interval: time.Minute,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	dr := resp.Responses["A"]
	if dr.Error != nil {
		t.Fatalf("%s: %v", raw, dr.Error)
	}
	if len(dr.Frames) != 1 {
		t.Fatalf("%s: %d frames", raw, len(dr.Frames))
	}
	return dr.Frames[0]
}

// stringAt is the value of the named field on row i ("" when the frame has no such field).
func stringAt(f *data.Frame, name string, i int) string {
	fld, idx := f.FieldByName(name)
	if idx < 0 {
		return ""
	}
	switch v := fld.At(i).(type) {
	case json.RawMessage:
		return string(v)
	case *string:
		if v == nil {
			return ""
		}
		return *v
	default:
		return fmt.Sprint(v)
	}
}

var linkVar = regexp.MustCompile(`\$\{__(value\.raw|data\.fields\.(\w+))\}`)

// interpolate does what Grafana does with an internal link's query when a cell is clicked:
// ${__value.raw} is the cell's value, ${__data.fields.x} the value of field x on its row.
func interpolate(t *testing.T, q any, f *data.Frame, field string, row int) []byte {
	t.Helper()
	b, err := json.Marshal(q)
	if err != nil {
		t.Fatal(err)
	}
	out := linkVar.ReplaceAllFunc(b, func(m []byte) []byte {
		sub := linkVar.FindSubmatch(m)
		name := field
		if len(sub[2]) > 0 {
			name = string(sub[2])
		}
		v, _ := json.Marshal(stringAt(f, name, row))
		return v[1 : len(v)-1] // the value inside the JSON string
	})
	return out
}

// TestRowLinks: findings, denied rows, events and an object's history link each row to its raw
// event, its object's history and its user's activity, as Grafana internal links to this
// datasource; each linked query, filled in with a row's values, is a valid query whose answer
// holds that row.
func TestRowLinks(t *testing.T) {
	ds := linkedDatasource(t)
	for _, tc := range []struct {
		query string
		links []string // fields with links
	}{
		{`{"queryType":"denied"}`, []string{"auditID", "name", "user"}},
		{`{"queryType":"events","format":"table","limit":50}`, []string{"auditID", "name", "user"}},
		{`{"queryType":"detections"}`, []string{"auditID", "name", "user"}},
		{`{"queryType":"objectHistory","filter":{"resources":["secrets"],"namespaces":["*"]}}`, []string{"auditID", "user"}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			f := queryFrame(t, ds, tc.query)
			if f.Rows() == 0 {
				t.Fatal("no rows")
			}
			var linked []string
			for _, fld := range f.Fields {
				if fld.Config == nil || len(fld.Config.Links) == 0 {
					continue
				}
				linked = append(linked, fld.Name)
				for _, l := range fld.Config.Links {
					if l.Internal == nil || l.Internal.DatasourceUID != linkUID || l.Title == "" || l.URL != "" {
						t.Errorf("%s: link %+v is not an internal link to this datasource", fld.Name, l)
					}
				}
			}
			slices.Sort(linked)
			if !slices.Equal(linked, tc.links) {
				t.Fatalf("linked fields %v, want %v", linked, tc.links)
			}
			// Follow each link from a few rows (the first, the last, one in between).
			for _, row := range slices.Compact([]int{0, f.Rows() / 2, f.Rows() - 1}) {
				id := stringAt(f, "auditID", row)
				for _, name := range tc.links {
					fld, _ := f.FieldByName(name)
					if stringAt(f, name, row) == "" {
						continue // no value: Grafana shows the link, its query reads no filter value
					}
					link := fld.Config.Links[0]
					raw := interpolate(t, link.Internal.Query, f, name, row)
					got := queryFrame(t, ds, string(raw))
					switch link.Title {
					case "Raw event":
						if got.Rows() == 0 {
							t.Fatalf("row %d: %s found nothing", row, raw)
						}
						for i := range got.Rows() {
							if lb := stringAt(got, "labels", i); !regexp.MustCompile(`"auditID":"` + regexp.QuoteMeta(id) + `"`).MatchString(lb) {
								t.Errorf("row %d: %s returned another event: %s", row, raw, lb)
							}
						}
					case "Object history":
						if !hasValue(got, "auditID", id) {
							t.Errorf("row %d (%s): %s does not hold the row", row, id, raw)
						}
					case "User activity":
						user := stringAt(f, "user", row)
						if got.Rows() == 0 {
							t.Fatalf("row %d: %s found nothing", row, raw)
						}
						for i := range got.Rows() {
							if lb := stringAt(got, "labels", i); !regexp.MustCompile(`"user":` + regexp.QuoteMeta(mustJSON(user))).MatchString(lb) {
								t.Errorf("row %d: %s returned another user's event: %s", row, raw, lb)
							}
						}
					default:
						t.Errorf("unknown link %q", link.Title)
					}
				}
			}
		})
	}
}

func hasValue(f *data.Frame, field, v string) bool {
	for i := range f.Rows() {
		if stringAt(f, field, i) == v {
			return true
		}
	}
	return false
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestNoLinksWithoutUID: a datasource without a UID (not created by Grafana) has nothing to
// link to, and log frames carry no links (their rows are not fields).
func TestNoLinksWithoutUID(t *testing.T) {
	ds := newTestDatasource(t, `{"source":"file","file":{"paths":["`+fixtureDir(t)+`"],"index":false}}`)
	for _, q := range []string{`{"queryType":"denied"}`, `{"queryType":"events"}`} {
		for _, fld := range queryFrame(t, ds, q).Fields {
			if fld.Config != nil && len(fld.Config.Links) > 0 {
				t.Errorf("%s: field %s has links", q, fld.Name)
			}
		}
	}
}
