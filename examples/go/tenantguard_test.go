package tenantguard

import (
	"errors"
	"testing"
)

func TestTheSameLimitsFromGo(t *testing.T) {
	g, err := NewGovernor("[tenant_quotas]\n[[tenant_quotas.tiers]]\nname = \"free\"\nmax_qps = 5\nburst_allowance = 1.0\nenforcement_action = \"reject\"\n")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := g.Register("acme"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		d, err := g.Check("acme", 1, 1000)
		if err != nil || !d.Allowed || *d.Remaining != uint64(4-i) || d.Resource != "qps" {
			t.Fatalf("check %d: %+v %v", i, d, err)
		}
	}
	d, err := g.Check("acme", 1, 1000)
	if err != nil || d.Allowed || d.RetryAfterMs == 0 {
		t.Fatalf("the sixth check must be refused: %+v %v", d, err)
	}
	_, err = g.Check("ghost", 1, Now)
	var tgErr *Error
	if !errors.As(err, &tgErr) || tgErr.Code != "TENANT_NOT_FOUND" {
		t.Fatalf("want TENANT_NOT_FOUND, got %v", err)
	}
	if _, err := NewGovernor("[tenant_quotas]\nwat = 1\n"); err == nil {
		t.Fatal("a bad configuration must fail")
	}
}

func TestNulBytesAreRefusedNotTruncated(t *testing.T) {
	g, err := NewGovernor("")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := g.Register("acme"); err != nil {
		t.Fatal(err)
	}
	var tgErr *Error
	if _, err := g.Check("acme\x00attacker", 1, 1000); !errors.As(err, &tgErr) || tgErr.Code != "INVALID_ARGUMENT" {
		t.Fatalf("want INVALID_ARGUMENT, got %v", err)
	}
	if err := g.Register("x\x00y"); !errors.As(err, &tgErr) || tgErr.Code != "INVALID_ARGUMENT" {
		t.Fatalf("want INVALID_ARGUMENT, got %v", err)
	}
	// Nothing was charged to "acme".
	d, err := g.Check("acme", 1, 1000)
	if err != nil || *d.Remaining != 149 {
		t.Fatalf("acme untouched: %+v %v", d, err)
	}
}

// Errors read on the thread that failed: many goroutines failing at once each see their own.
func TestErrorsBelongToTheirCall(t *testing.T) {
	g, err := NewGovernor("")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	done := make(chan error)
	for i := 0; i < 8; i++ {
		go func(i int) {
			for j := 0; j < 200; j++ {
				_, err := g.Check("ghost", 1, 1000)
				var tgErr *Error
				if !errors.As(err, &tgErr) || tgErr.Code != "TENANT_NOT_FOUND" || tgErr.Message == "" {
					done <- err
					return
				}
			}
			done <- nil
		}(i)
	}
	for i := 0; i < 8; i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
