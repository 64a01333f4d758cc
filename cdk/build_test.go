package main

import (
	"bytes"
	"debug/elf"
	"os"
	"path/filepath"
	"testing"

	anb "github.com/anb/risingstars/constructs"
)

// GIVEN this module's ./app and ./worker WHEN BuildBinaries cross-compiles them
// as `cdk synth` does THEN both are static linux/amd64 executables.
func TestBuildBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles both binaries; skipped with -short")
	}
	moduleDir, err := findModuleDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range []string{anb.AppBinary, anb.WorkerBinary} {
		if mains, _ := filepath.Glob(filepath.Join(moduleDir, pkg, "*.go")); len(mains) == 0 {
			t.Skipf("./%s has no Go files yet", pkg)
		}
	}
	out, again := t.TempDir(), t.TempDir()
	for _, dir := range []string{out, again} {
		if err := anb.BuildBinaries(moduleDir, dir); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{anb.AppBinary, anb.WorkerBinary} {
		path := filepath.Join(out, name)
		f, err := elf.Open(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC {
			t.Errorf("%s: machine %v type %v, want EM_X86_64 ET_EXEC", name, f.Machine, f.Type)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s is dynamically linked (CGO_ENABLED must be 0)", name)
			}
		}
		f.Close()
		if info, err := os.Stat(path); err == nil && info.Mode()&0o111 == 0 {
			t.Errorf("%s is not executable", name)
		}
		// Reproducible: an unchanged app keeps its asset hash, so a deploy
		// does not replace instances for nothing.
		a, _ := os.ReadFile(path)
		b, _ := os.ReadFile(filepath.Join(again, name))
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two builds of the same source differ", name)
		}
	}
}
