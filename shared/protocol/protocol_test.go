package protocol

import (
	"strings"
	"testing"
)

func TestRoundTripAndRefusals(t *testing.T) {
	b, err := Encode("7", ValidatePlan, PlanPayload{Plan: []byte(`{"slots":[{"take":["base",0]}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	e, err := Decode(b)
	if err != nil || e.ID != "7" || e.Type != ValidatePlan {
		t.Fatalf("%+v %v", e, err)
	}
	var p PlanPayload
	if err := e.Into(&p); err != nil || !strings.Contains(string(p.Plan), "take") {
		t.Errorf("payload %s %v", p.Plan, err)
	}
	for in, want := range map[string]string{
		`{"v":2,"type":"hello"}`:           "protocol version 2 is not spoken here",
		`{"v":1}`:                          "message has no type",
		`{"v":1,"type":"hello","extra":1}`: "unknown field",
		`not json`:                         "not a protocol message",
		`{"v":1,"type":"hello"} {}`:        "trailing data",
		strings.Repeat(" ", MaxMessage+1):  "exceeds",
	} {
		if _, err := Decode([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.40q: %v, want %q", in, err, want)
		}
	}
	e, _ = Decode([]byte(`{"v":1,"id":"1","type":"plan.export","payload":{"format":"json","bogus":1}}`))
	var x ExportRequest
	if err := e.Into(&x); err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Errorf("strict payload: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"v":1,"id":"1","type":"hello"}`))
	f.Add([]byte(`{"v":1,"id":"2","type":"plan.put","payload":{"plan":{"slots":[]}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Decode(b)
		if err != nil {
			return
		}
		if e.V != Version || e.Type == "" {
			t.Fatalf("accepted %+v", e)
		}
		var p PlanPayload
		_ = e.Into(&p)
	})
}
