//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// Dependency is a service the nodes reach through the fault injector.
type Dependency string

// The dependencies that can be cut or slowed.
const (
	PostgreSQL Dependency = "postgresql"
	S3         Dependency = "s3"
	SQS        Dependency = "sqs"
)

// faults is Toxiproxy, run inside the cluster process: one TCP proxy per
// dependency, between the nodes and the service. The nodes know only the
// proxies' addresses (the database secret's host and port,
// AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_SQS); the cluster's own clients
// (the tests' checks) talk to the services directly.
type faults struct {
	server  *toxiproxy.ApiServer
	proxies map[Dependency]*toxiproxy.Proxy
}

func newFaults(log io.Writer) *faults {
	return &faults{
		server:  toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.New(log).Level(zerolog.WarnLevel)),
		proxies: map[Dependency]*toxiproxy.Proxy{},
	}
}

// add starts a proxy on a free loopback port to upstream (host:port) and
// returns its address.
func (f *faults) add(d Dependency, upstream string) (string, error) {
	p := toxiproxy.NewProxy(f.server, string(d), "127.0.0.1:0", upstream)
	if err := f.server.Collection.Add(p, true); err != nil {
		return "", fmt.Errorf("fault injector for %s: %w", d, err)
	}
	f.proxies[d] = p
	return p.Listen, nil
}

// proxyURL starts a proxy to the host of an http:// endpoint and returns
// the endpoint through it.
func (f *faults) proxyURL(d Dependency, endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", err
	}
	addr, err := f.add(d, u.Host)
	if err != nil {
		return "", err
	}
	u.Host = addr
	return u.String(), nil
}

func (f *faults) close() { f.server.Collection.Clear() }

func (c *Cluster) proxy(d Dependency) (*toxiproxy.Proxy, error) {
	p, ok := c.faults.proxies[d]
	if !ok {
		return nil, fmt.Errorf("no fault injector for %q", d)
	}
	return p, nil
}

// Cut makes d unreachable for the nodes, as a network partition or an
// outage does: the open connections are closed and new ones refused.
func (c *Cluster) Cut(d Dependency) error {
	p, err := c.proxy(d)
	if err != nil {
		return err
	}
	p.Stop()
	c.step("fault: %s cut", d)
	return nil
}

// Restore ends every fault of d: reachable again, no added latency.
func (c *Cluster) Restore(d Dependency) error {
	p, err := c.proxy(d)
	if err != nil {
		return err
	}
	p.Toxics.ResetToxics(context.Background())
	if err := p.Start(); err != nil && !errors.Is(err, toxiproxy.ErrProxyAlreadyStarted) {
		return fmt.Errorf("restore %s: %w", d, err)
	}
	c.step("fault: %s restored", d)
	return nil
}

// AddLatency delays every answer of d by latency (Toxiproxy's latency
// toxic on the downstream side: each chunk of data from the service).
func (c *Cluster) AddLatency(d Dependency, latency time.Duration) error {
	p, err := c.proxy(d)
	if err != nil {
		return err
	}
	toxic := fmt.Sprintf(`{"name":"latency","type":"latency","stream":"downstream","attributes":{"latency":%d}}`, latency.Milliseconds())
	if _, err := p.Toxics.AddToxicJson(strings.NewReader(toxic)); err != nil {
		return fmt.Errorf("add latency to %s: %w", d, err)
	}
	c.step("fault: %s answers %s late", d, latency)
	return nil
}
