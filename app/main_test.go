package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anb/risingstars/app/mp4/mediatest"
)

// server is the real binary, started as a newcomer would start it.
type server struct {
	t    *testing.T
	cmd  *exec.Cmd
	base string
	log  *bytes.Buffer
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "anb")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func start(t *testing.T, bin, dataDir, addr string, env ...string) *server {
	t.Helper()
	s := &server{t: t, base: "http://" + addr, log: &bytes.Buffer{}}
	s.cmd = exec.Command(bin)
	s.cmd.Env = append(os.Environ(), append([]string{"ANB_ADDR=" + addr, "ANB_DATA_DIR=" + dataDir, "ANB_DATABASE_URL="}, env...)...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		if t.Failed() {
			t.Logf("server log:\n%s", s.log)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(s.base + "/health")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not become healthy: %v\n%s", err, s.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) json(method, path, token string, body any, out any) int {
	s.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.base+path, r)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil {
		json.NewDecoder(res.Body).Decode(out)
	}
	return res.StatusCode
}

// TestUploadSurvivesACrashAndIsProcessedForReal kills the server right after
// an upload, before any worker saw it, then checks the restarted server
// processes it with the real ffmpeg pipeline.
func TestUploadSurvivesACrashAndIsProcessedForReal(t *testing.T) {
	clip := mediatest.Clip(t, mediatest.ClipOptions{Width: 1920, Height: 1080, Seconds: 22, Audio: true})
	bin := buildBinary(t)
	data, addr := t.TempDir(), freeAddr(t)

	first := start(t, bin, data, addr, "ANB_WORKERS=0")
	signup := map[string]string{"first_name": "Ana", "last_name": "Pérez", "email": "ana@example.com",
		"password1": "clave-segura", "password2": "clave-segura", "city": "Cali", "country": "Colombia"}
	if code := first.json("POST", "/api/auth/signup", "", signup, nil); code != http.StatusCreated {
		t.Fatalf("signup: %d", code)
	}
	var login struct {
		AccessToken string `json:"access_token"`
	}
	first.json("POST", "/api/auth/login", "", map[string]string{"email": "ana@example.com", "password": "clave-segura"}, &login)

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("title", "Clavada")
	w, _ := mw.CreateFormFile("video_file", "clip.mp4")
	b, _ := os.ReadFile(clip)
	w.Write(b)
	mw.Close()
	req, _ := http.NewRequest("POST", first.base+"/api/videos/upload", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+login.AccessToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var up struct {
		VideoID string `json:"video_id"`
	}
	json.NewDecoder(res.Body).Decode(&up)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d", res.StatusCode)
	}

	first.cmd.Process.Signal(syscall.SIGKILL)
	first.cmd.Wait()

	// The token survives the restart: the generated secret is kept in the data dir.
	second := start(t, bin, data, addr, "ANB_WORKERS=1")
	var v map[string]any
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if code := second.json("GET", "/api/videos/"+up.VideoID, login.AccessToken, nil, &v); code != http.StatusOK {
			t.Fatalf("get video after restart: %d", code)
		}
		if v["status"] == "processed" || v["status"] == "failed" || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if v["status"] != "processed" {
		t.Fatalf("video after restart: %v", v)
	}

	res, err = http.Get(second.base + v["processed_url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "processed.mp4")
	f, _ := os.Create(out)
	io.Copy(f, res.Body)
	f.Close()
	res.Body.Close()
	probe, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_type,width,height,pix_fmt:format=duration",
		"-of", "default=noprint_wrappers=1", out).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, probe)
	}
	got := string(probe)
	for _, want := range []string{"codec_type=video", "width=1280", "height=720", "pix_fmt=yuv420p"} {
		if !strings.Contains(got, want) {
			t.Errorf("processed file lacks %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, "codec_type=audio") {
		t.Errorf("processed file still has audio:\n%s", got)
	}
	var duration float64
	for _, line := range strings.Split(got, "\n") {
		fmt.Sscanf(line, "duration=%f", &duration)
	}
	if duration < 26.8 || duration > 27.2 {
		t.Errorf("duration %.2f s, want 22 + 5 s", duration)
	}
}

func TestBadConfigurationFailsFast(t *testing.T) {
	bin := buildBinary(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "ANB_DATA_DIR="+t.TempDir(), "ANB_RANKINGS_CACHE_TTL=soon", "ANB_STORAGE=ftp")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("server started with a bad configuration:\n%s", out)
	}
	for _, want := range []string{"ANB_RANKINGS_CACHE_TTL", "ANB_STORAGE"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("error output does not name %s:\n%s", want, out)
		}
	}
}
