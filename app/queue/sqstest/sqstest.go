// Package sqstest runs local-aws-sqs, the SQS stand-in that speaks the
// current JSON protocol of the SDK, for tests and the local cluster, and
// creates queues the way the CDK stack does (a dead-letter queue after 3
// receives). ./scripts/test installs local-aws-sqs under .tools/; node must
// be on PATH.
package sqstest

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/anb/risingstars/app/awstest"
	"github.com/anb/risingstars/app/nodespec"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

//go:embed server.js
var launcher []byte

// Module is the npm package this runs, as scripts/lib.sh's need_npm wants it.
const Module = "local-aws-sqs@2.0.2"

// Server is a running local-aws-sqs.
type Server struct {
	Endpoint string // http://127.0.0.1:PORT, for AWS_ENDPOINT_URL_SQS
	cmd      *exec.Cmd
	script   string
	exited   chan struct{}
}

// Start runs local-aws-sqs from toolsDir (the .tools folder) on port (0 picks
// a free one), writing its output to log. It is killed if this process dies.
func Start(toolsDir string, port int, log io.Writer) (*Server, error) {
	module := filepath.Join(toolsDir, "node_modules", "local-aws-sqs")
	if _, err := os.Stat(filepath.Join(module, "package.json")); err != nil {
		return nil, fmt.Errorf("%s is not installed at %s: run ./scripts/test, or `source scripts/lib.sh && need_npm %s`", Module, module, Module)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("node is required to run %s: %w", Module, err)
	}
	f, err := os.CreateTemp("", "anb-sqs-*.js")
	if err != nil {
		return nil, err
	}
	f.Write(launcher)
	f.Close()
	s := &Server{script: f.Name(), exited: make(chan struct{})}
	s.cmd = exec.Command(node, f.Name(), module, strconv.Itoa(port))
	s.cmd.Stderr = log
	s.cmd.SysProcAttr = sysProcAttr()
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		os.Remove(s.script)
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		os.Remove(s.script)
		return nil, fmt.Errorf("start %s: %w", Module, err)
	}
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				listening <- p
			}
			fmt.Fprintln(log, sc.Text())
		}
		s.cmd.Wait()
		close(s.exited)
	}()
	select {
	case p := <-listening:
		s.Endpoint = "http://127.0.0.1:" + p
		return s, nil
	case <-s.exited:
		os.Remove(s.script)
		return nil, fmt.Errorf("%s exited at start (%v); see its log", Module, s.cmd.ProcessState)
	case <-time.After(30 * time.Second):
		s.Close()
		return nil, fmt.Errorf("%s did not start within 30 s", Module)
	}
}

// Pid is the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Close stops the server.
func (s *Server) Close() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	os.Remove(s.script)
}

// CreateQueues creates name-dlq and name, whose redrive policy moves a task
// to name-dlq after nodespec.QueueMaxReceiveCount receives, and returns their URLs.
func CreateQueues(ctx context.Context, client *sqs.Client, name string, visibility time.Duration) (url, dlqURL string, err error) {
	return CreateQueuesWithRedrive(ctx, client, name, visibility, nodespec.QueueMaxReceiveCount)
}

// CreateQueuesWithRedrive is CreateQueues with a redrive limit of
// maxReceiveCount receives: a test makes it small to see in seconds what
// the stack's limit would take minutes to show.
func CreateQueuesWithRedrive(ctx context.Context, client *sqs.Client, name string, visibility time.Duration, maxReceiveCount int) (url, dlqURL string, err error) {
	dlq, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-dlq")})
	if err != nil {
		return "", "", fmt.Errorf("create dead-letter queue: %w", err)
	}
	attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: dlq.QueueUrl,
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		return "", "", fmt.Errorf("read dead-letter queue ARN: %w", err)
	}
	redrive, _ := json.Marshal(map[string]string{
		"deadLetterTargetArn": attrs.Attributes[string(types.QueueAttributeNameQueueArn)],
		"maxReceiveCount":     strconv.Itoa(maxReceiveCount),
	})
	q, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: map[string]string{
		string(types.QueueAttributeNameRedrivePolicy):     string(redrive),
		string(types.QueueAttributeNameVisibilityTimeout): strconv.Itoa(int(visibility.Seconds())),
	}})
	if err != nil {
		return "", "", fmt.Errorf("create queue: %w", err)
	}
	return aws.ToString(q.QueueUrl), aws.ToString(dlq.QueueUrl), nil
}

// ToolsDir is the .tools folder of the module that holds the working directory.
func ToolsDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, ".tools"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// New starts a server for the test, points the SDK's standard environment at
// it (AWS_ENDPOINT_URL_SQS, region, placeholder credentials) the way the
// binaries are configured, and returns a client built from that environment.
func New(t testing.TB) *sqs.Client {
	t.Helper()
	tools, err := ToolsDir()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(tools, 0, testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return sqs.NewFromConfig(awstest.Config(t, "SQS", s.Endpoint))
}

// testLog shows the server's output only for a failed or verbose test.
type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
