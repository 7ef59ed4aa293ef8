package envelope

import "testing"

// checkInARow: lines unwrapped one after the other by one Unwrapper (with what it remembers
// of the lines before) give what each line gives to a new Unwrapper.
func checkInARow(t *testing.T, lines []string) {
	t.Helper()
	u := New(Auto)
	for i, line := range lines {
		got, ok := u.Unwrap([]byte(line))
		gotMeta := metaString(u.Meta)
		fresh := New(Auto)
		want, wok := fresh.Unwrap([]byte(line))
		if string(got) != string(want) || ok != wok || gotMeta != metaString(fresh.Meta) {
			t.Fatalf("line %d %s: %q %v %s after the lines before; alone %q %v %s", i, line, got, ok, gotMeta, want, wok, metaString(fresh.Meta))
		}
	}
}

// TestKubernetesMetadataRepeated: Fluent Bit lines read one after the other (the kubernetes
// metadata of the last line remembered: kubeValue) unwrap as each one alone does, when the
// metadata repeats, changes, is followed by other keys, is not an object, has an escaped pod
// name or is cut short.
func TestKubernetesMetadataRepeated(t *testing.T) {
	const ev = `"log":{"kind":"Event","auditID":"a"}`
	kubes := []string{
		`{"pod_name":"p","host":"h"}`, `{"pod_name":"p","host":"h"}`, `{"pod_name":"q","host":"h"}`,
		`{"pod_name":"p","host":"h"},"x":1`, `{"pod_name":"p","host":"h"}`, `{"pod_name":"p","host":"h"`,
		`{"pod_name":"p","host":"h"}}`, `"{\"pod_name\":\"p\"}"`, `{"pod_name":"p\u0041","labels":{"a":"}\""}}`,
		`{"pod_name":"p\u0041","labels":{"a":"}\""}}`, `{"pod_name":"p","host":"h"} `, `{"pod_name":"p","host":"h"}`, `{"pod_name":"p","host":"hh"}`,
		`{"pod_name":"p","host":"h"}`, `{"pod_name":"p","host":"h","x":{}}`,
	}
	var lines []string
	for _, k := range kubes {
		lines = append(lines, `{`+ev+`,"kubernetes":`+k+`}`, `{"kubernetes":`+k+`,`+ev+`}`)
	}
	checkInARow(t, lines)
}

// TestAKSRestRepeated: AKS records read one after the other (the start of the line up to
// properties.log and the rest of properties after it remembered: aksPrefix, propsRest) unwrap
// as each one alone does, when the rest of properties repeats, changes (a longer pod, other
// keys, nested objects, escapes, a second log key, nothing), or is cut short or malformed.
func TestAKSRestRepeated(t *testing.T) {
	const start = `{"category":"kube-audit","properties":{"log":"{\"kind\":\"Event\",\"auditID\":\"a\"}"`
	rests := []string{
		`,"stream":"stdout","pod":"p1"},"time":"t1"}`, `,"stream":"stdout","pod":"p1"},"time":"t2"}`,
		`,"stream":"stdout","pod":"p12"},"time":"t"}`, `,"stream":"stdout","pod":"p1"},"time":"t1"}`,
		`,"stream":"stdout","pod":"p1","x":{"a":"}"}},"time":"t"}`, `,"stream":"stdout","pod":"p1"},"time":"t1"}`,
		`,"stream":"stdout","pod":"p1"}`, `,"stream":"stdout","pod":"p1"},"time":"t1"}`,
		`,"pod":"p\u0041","stream":"stdout"},"time":"t"}`, `,"pod":"p\u0041","stream":"stdout"},"time":"t"}`,
		`,"stream":"stdout","pod":1},"time":"t"}`, `,"stream":"stdout","pod":1},"time":"t"}`,
		`,"stream":"stdout","pod":"p1","log":"{}"},"time":"t"}`, `},"time":"t"}`, `},"time":"t"}`,
		`,"stream":"stdout","pod":"p1"}}`, `,"stream":"stdout","pod":"p1"},"time":"t1"}`,
		`,"stream":"stdout","pod":"p1"},"time":"t1"} `, `,"stream":"stdout","pod":"p1"},"verb":"get"}`,
		`,"stream":"stdout","pod":"p1"},"time":"t1"}`,
	}
	var lines []string
	for _, r := range rests {
		lines = append(lines, start+r)
	}
	lines = append(lines, `{"category":"kube-audit","properties":{"pod":"p0","log":"{}"`+rests[0], start+rests[0])
	checkInARow(t, lines)
}
