// Package tenantguard shows Go calling the tenantguard C ABI through cgo: the same Rust core
// as every other host. Build flags come from the pkg-config file that scripts/c-env.sh writes:
//
//	PKG_CONFIG_PATH=target/c-dist/lib/pkgconfig CGO_LDFLAGS=-Wl,-rpath,$PWD/target/c-dist/lib go test ./...
//
// (libtenantguard.so is found through the rpath; `bash scripts/c-env.sh go` does all of this).
package tenantguard

/*
#cgo pkg-config: tenantguard
#include <stdlib.h>
#include "tenantguard.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unsafe"
)

// Now asks the governor to read its clock.
const Now = uint64(C.TG_NOW)

// Error is a failed call: the C status and the core's stable code.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("tenantguard: %s: %s", e.Code, e.Message) }

// lastError reads the error of the failed call just made. The C library keeps it per OS
// thread, so every call that can fail runs with its goroutine locked to its thread until the
// error is read (a goroutine may otherwise move to another thread between two cgo calls).
func lastError(status uint32) error {
	return &Error{Status: int(status), Code: C.GoString(C.tg_last_error_code()), Message: C.GoString(C.tg_last_error_message())}
}

// cString copies s for C, refusing a NUL byte (C would read the string only up to it, so
// "acme\x00x" would act for tenant "acme").
func cString(what, s string) (*C.char, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, &Error{Status: int(C.TG_STATUS_INVALID_ARGUMENT), Code: "INVALID_ARGUMENT", Message: what + " contains a NUL byte"}
	}
	return C.CString(s), nil
}

// Decision is the answer to a check.
type Decision struct {
	Allowed      bool
	Code         int
	Resource     string
	Limit        *uint64
	Remaining    *uint64
	RetryAfterMs uint64
	DelayMs      uint64
}

// Governor owns a native governor; call Close when done.
type Governor struct{ ptr *C.TgGovernor }

// NewGovernor loads an S2 TOML configuration ("" for the built-in plans).
func NewGovernor(toml string) (*Governor, error) {
	if C.tg_abi_version() != C.TG_ABI_VERSION {
		return nil, errors.New("tenantguard: libtenantguard ABI mismatch")
	}
	var cfg *C.char
	if toml != "" {
		c, err := cString("config", toml)
		if err != nil {
			return nil, err
		}
		cfg = c
		defer C.free(unsafe.Pointer(cfg))
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	g := &Governor{}
	if s := C.tg_governor_new(cfg, C.TG_CONFIG_FORMAT_TOML, 0, &g.ptr); s != C.TG_STATUS_OK {
		return nil, lastError(s)
	}
	return g, nil
}

// Close frees the governor.
func (g *Governor) Close() { C.tg_governor_free(g.ptr); g.ptr = nil }

// Register adds a tenant on the plan its name matches (tenant_pattern), else default_tier.
func (g *Governor) Register(name string) error {
	n, err := cString("name", name)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(n))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if s := C.tg_register(g.ptr, n, nil, C.uint64_t(Now)); s != C.TG_STATUS_OK {
		return lastError(s)
	}
	return nil
}

// Check consumes cost units of qps for tenant at nowMs (or Now).
func (g *Governor) Check(tenant string, cost, nowMs uint64) (Decision, error) {
	t, err := cString("tenant", tenant)
	if err != nil {
		return Decision{}, err
	}
	defer C.free(unsafe.Pointer(t))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var d C.TgDecision
	if s := C.tg_check(g.ptr, t, nil, C.uint64_t(cost), C.uint64_t(nowMs), &d); s != C.TG_STATUS_OK {
		return Decision{}, lastError(s)
	}
	out := Decision{Allowed: bool(d.allowed), Code: int(d.code), Resource: C.GoString(d.resource),
		RetryAfterMs: uint64(d.retry_after_ms), DelayMs: uint64(d.delay_ms)}
	if d.has_limit {
		v := uint64(d.limit)
		out.Limit = &v
	}
	if d.has_remaining {
		v := uint64(d.remaining)
		out.Remaining = &v
	}
	return out, nil
}
