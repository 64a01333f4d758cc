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
// as `cdk synth` does for x86 web nodes and Graviton workers THEN each is a
// static linux executable of its architecture, the same bytes every time.
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
	archs := map[string]anb.Arch{anb.AppBinary: anb.AMD64, anb.WorkerBinary: anb.ARM64}
	machine := map[anb.Arch]elf.Machine{anb.AMD64: elf.EM_X86_64, anb.ARM64: elf.EM_AARCH64}
	out, again := t.TempDir(), t.TempDir()
	for _, dir := range []string{out, again} {
		if err := anb.BuildBinaries(moduleDir, dir, archs); err != nil {
			t.Fatal(err)
		}
	}
	for name, arch := range archs {
		path := anb.BinaryPath(out, arch, name)
		f, err := elf.Open(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if f.Machine != machine[arch] || f.Type != elf.ET_EXEC {
			t.Errorf("%s: machine %v type %v, want %v ET_EXEC", name, f.Machine, f.Type, machine[arch])
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
		b, _ := os.ReadFile(anb.BinaryPath(again, arch, name))
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two builds of the same source differ", name)
		}
	}
}
