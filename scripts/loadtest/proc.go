package main

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/anb/risingstars/scripts/loadtest/results"
)

// This file reads /proc (Linux) to split the machine's CPU time between the
// API process, PostgreSQL, the load generator itself and everything else, and
// to sample the API's resident memory. On other systems it reports nothing.

const clockTicks = 100 // USER_HZ on Linux

// watchedPIDs names the API process to account for (0: none).
type watchedPIDs struct{ api int }

type cpuSnapshot struct {
	ok               bool
	at               time.Time
	busy, total      float64 // machine, in seconds
	api, pg, loadgen float64
	ffmpeg           float64
}

func takeCPU(p *watchedPIDs) cpuSnapshot {
	s := cpuSnapshot{at: time.Now()}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 8 || f[0] != "cpu" {
		return s
	}
	for i, v := range f[1:] {
		n, _ := strconv.ParseFloat(v, 64)
		if i >= 8 { // guest time is already counted in user
			break
		}
		s.total += n / clockTicks
		if i != 3 && i != 4 { // idle, iowait
			s.busy += n / clockTicks
		}
	}
	s.loadgen = procCPU(os.Getpid())
	if p != nil && p.api > 0 {
		s.api = procCPU(p.api)
	}
	s.pg = namedCPU("postgres")
	// ffmpeg runs as a child of the API (in-process workers): running ones
	// are read directly, finished ones are in the API's children time.
	s.ffmpeg = namedCPU("ffmpeg")
	if p != nil && p.api > 0 {
		s.ffmpeg += childrenCPU(p.api)
	}
	s.ok = true
	return s
}

// procCPU is the user+system time of a process, in seconds.
func procCPU(pid int) float64 { return statTimes(pid, 11) }

// childrenCPU is the user+system time of a process's waited-for children.
func childrenCPU(pid int) float64 { return statTimes(pid, 13) }

// statTimes adds two consecutive time fields of /proc/PID/stat, counted
// from the field after the command name.
func statTimes(pid, field int) float64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// The command name may contain spaces; fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < field+2 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[field], 64)
	st, _ := strconv.ParseFloat(f[field+1], 64)
	return (ut + st) / clockTicks
}

// namedCPU sums the CPU time of the processes with that command name (e.g.
// "postgres": the server and its backends). Reading only: nothing is signalled.
// A process that exits between two snapshots drops out of the sum.
func namedCPU(name string) float64 {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var sum float64
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil || strings.TrimSpace(string(comm)) != name {
			continue
		}
		sum += procCPU(pid)
	}
	return sum
}

// cpuShare is the CPU each party used between two snapshots, in cores, and
// per request at rps requests/s; nil when either snapshot failed or no
// clock tick passed between them.
func cpuShare(a, b cpuSnapshot, rps float64) *results.CPUShare {
	if !a.ok || !b.ok {
		return nil
	}
	wall := b.at.Sub(a.at).Seconds()
	if wall <= 0 {
		return nil
	}
	cores := runtime.NumCPU()
	c := &results.CPUShare{Cores: cores}
	c.API = (b.api - a.api) / wall
	c.Postgres = (b.pg - a.pg) / wall
	c.Loadgen = (b.loadgen - a.loadgen) / wall
	c.FFmpeg = max(b.ffmpeg-a.ffmpeg, 0) / wall
	if b.total <= a.total { // too short to see a clock tick
		return nil
	}
	// /proc/stat totals cover all CPUs: scale them to cores.
	scale := float64(cores) / ((b.total - a.total) / wall)
	busy := (b.busy - a.busy) / wall * scale
	c.Idle = max(float64(cores)-busy, 0)
	c.Other = max(busy-c.API-c.Postgres-c.Loadgen-c.FFmpeg, 0)
	if rps > 0 {
		c.APIMicrosPerReq = c.API / rps * 1e6
		c.PGMicrosPerReq = c.Postgres / rps * 1e6
	}
	return c
}

// rssSampler records the peak resident memory of a process while it runs.
type rssSampler struct {
	pid  int
	stop chan struct{}
	wg   sync.WaitGroup
	peak int64 // KiB
	base int64
}

func startRSS(pid int) *rssSampler {
	s := &rssSampler{pid: pid, stop: make(chan struct{})}
	if pid <= 0 {
		return s
	}
	s.base = rssKiB(pid)
	s.wg.Go(func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			s.peak = max(s.peak, rssKiB(pid))
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	})
	return s
}

// done stops sampling and returns the resident memory before and at its peak, in MiB.
func (s *rssSampler) done() (base, peak float64) {
	close(s.stop)
	s.wg.Wait()
	return float64(s.base) / 1024, float64(s.peak) / 1024
}

func rssKiB(pid int) int64 {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return n
		}
	}
	return 0
}
