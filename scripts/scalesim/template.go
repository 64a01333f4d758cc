package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"time"
)

// Template is what the simulator takes from a synthesized CloudFormation
// template: the worker group, its backlog policy and its queue. It keeps no
// copy of these numbers; every one comes from the file.
type Template struct {
	Path string

	Group, Policy, Queue, Hook, LaunchTemplate string // logical ids, for the output

	MinSize, MaxSize int
	Target           float64
	Expression       string // the metric math the policy tracks (ReturnData true)
	QueueMetric      string // id of the SQS visible-messages metric (m1)
	InServiceMetric  string // id of the GroupInServiceInstances metric (m2)
	expr             expr

	// Warmup is the policy's EstimatedInstanceWarmup, else the group's
	// DefaultInstanceWarmup, else its Cooldown (AWS's own fallback order);
	// WarmupFrom says which.
	Warmup     time.Duration
	WarmupFrom string

	HealthCheckGrace time.Duration
	HookTimeout      time.Duration // 0: no termination lifecycle hook
	Visibility       time.Duration
	MaxReceiveCount  int

	InstanceType string
	CPUCredits   string // "unlimited", "standard" or "" (the type's default)
}

type resource struct {
	Type       string          `json:"Type"`
	Properties json.RawMessage `json:"Properties"`
}

type dimension struct {
	Name  string `json:"Name"`
	Value any    `json:"Value"`
}

type scalingPolicy struct {
	AutoScalingGroupName any    `json:"AutoScalingGroupName"`
	PolicyType           string `json:"PolicyType"`
	EstimatedWarmup      *int   `json:"EstimatedInstanceWarmup"`
	TargetTracking       *struct {
		TargetValue float64 `json:"TargetValue"`
		Custom      *struct {
			Metrics []struct {
				ID         string `json:"Id"`
				Expression string `json:"Expression"`
				ReturnData *bool  `json:"ReturnData"`
				MetricStat *struct {
					Metric struct {
						Namespace  string      `json:"Namespace"`
						MetricName string      `json:"MetricName"`
						Dimensions []dimension `json:"Dimensions"`
					} `json:"Metric"`
					Stat string `json:"Stat"`
				} `json:"MetricStat"`
			} `json:"Metrics"`
		} `json:"CustomizedMetricSpecification"`
	} `json:"TargetTrackingConfiguration"`
}

type group struct {
	MinSize, MaxSize      any
	DefaultInstanceWarmup *int `json:"DefaultInstanceWarmup"`
	Cooldown              any  `json:"Cooldown"`
	HealthCheckGrace      *int `json:"HealthCheckGracePeriod"`
	LaunchTemplate        *struct {
		ID any `json:"LaunchTemplateId"`
	} `json:"LaunchTemplate"`
}

// ReadTemplate finds the worker tier in a template by its role, not by
// logical ids: the target-tracking policy whose customized metric divides
// an SQS queue's visible messages by an Auto Scaling group's in-service
// instances; the group it scales; the queue it reads; the group's
// termination lifecycle hook and launch template.
func ReadTemplate(path string) (*Template, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Resources map[string]resource `json:"Resources"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t := &Template{Path: path}
	ids := make([]string, 0, len(doc.Resources))
	for id := range doc.Resources {
		ids = append(ids, id)
	}
	sort.Strings(ids) // deterministic error messages

	var found []string
	for _, id := range ids {
		r := doc.Resources[id]
		if r.Type != "AWS::AutoScaling::ScalingPolicy" {
			continue
		}
		var p scalingPolicy
		if err := json.Unmarshal(r.Properties, &p); err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		if p.PolicyType != "TargetTrackingScaling" || p.TargetTracking == nil || p.TargetTracking.Custom == nil {
			continue
		}
		var queueRef, groupRef, m1, m2, expression string
		for _, m := range p.TargetTracking.Custom.Metrics {
			if m.MetricStat != nil {
				ms := m.MetricStat.Metric
				switch {
				case ms.Namespace == "AWS/SQS" && ms.MetricName == "ApproximateNumberOfMessagesVisible":
					m1, queueRef = m.ID, dimensionRef(ms.Dimensions, "QueueName")
				case ms.Namespace == "AWS/AutoScaling" && ms.MetricName == "GroupInServiceInstances":
					m2, groupRef = m.ID, dimensionRef(ms.Dimensions, "AutoScalingGroupName")
				}
			}
			if m.Expression != "" && (m.ReturnData == nil || *m.ReturnData) {
				expression = m.Expression
			}
		}
		if m1 == "" || m2 == "" || expression == "" {
			continue
		}
		if g := ref(p.AutoScalingGroupName); g != groupRef {
			return nil, fmt.Errorf("%s: the policy scales group %q but its metric counts the instances of %q", id, g, groupRef)
		}
		found = append(found, id)
		t.Policy, t.Group, t.Queue = id, groupRef, queueRef
		t.QueueMetric, t.InServiceMetric, t.Expression = m1, m2, expression
		t.Target = p.TargetTracking.TargetValue
		if p.EstimatedWarmup != nil {
			t.Warmup, t.WarmupFrom = seconds(*p.EstimatedWarmup), "the policy's EstimatedInstanceWarmup"
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("%s: no target-tracking policy on SQS ApproximateNumberOfMessagesVisible per GroupInServiceInstances", path)
	case 1:
	default:
		return nil, fmt.Errorf("%s: several backlog policies (%v); the simulator models one worker group", path, found)
	}
	if t.expr, err = parseExpr(t.Expression); err != nil {
		return nil, fmt.Errorf("%s: %w", t.Policy, err)
	}
	if _, err := t.expr.eval(map[string]float64{t.QueueMetric: 1, t.InServiceMetric: 1}); err != nil {
		return nil, fmt.Errorf("%s: %w", t.Policy, err)
	}

	gr, ok := doc.Resources[t.Group]
	if !ok || gr.Type != "AWS::AutoScaling::AutoScalingGroup" {
		return nil, fmt.Errorf("%s: the policy's group %q is not an AWS::AutoScaling::AutoScalingGroup of the template", path, t.Group)
	}
	var g group
	if err := json.Unmarshal(gr.Properties, &g); err != nil {
		return nil, fmt.Errorf("%s: %w", t.Group, err)
	}
	if t.MinSize, err = integer(g.MinSize); err != nil {
		return nil, fmt.Errorf("%s MinSize: %w", t.Group, err)
	}
	if t.MaxSize, err = integer(g.MaxSize); err != nil {
		return nil, fmt.Errorf("%s MaxSize: %w", t.Group, err)
	}
	if t.MinSize < 0 || t.MaxSize < max(1, t.MinSize) {
		return nil, fmt.Errorf("%s: MinSize %d, MaxSize %d", t.Group, t.MinSize, t.MaxSize)
	}
	if t.WarmupFrom == "" {
		switch cooldown, err := integer(g.Cooldown); {
		case g.DefaultInstanceWarmup != nil:
			t.Warmup, t.WarmupFrom = seconds(*g.DefaultInstanceWarmup), "the group's DefaultInstanceWarmup"
		case err == nil:
			t.Warmup, t.WarmupFrom = seconds(cooldown), "the group's Cooldown (no warm-up set)"
		default:
			t.Warmup, t.WarmupFrom = 300*time.Second, "AWS's default cooldown, 300 s (no warm-up or cooldown set)"
		}
	}
	if g.HealthCheckGrace != nil {
		t.HealthCheckGrace = seconds(*g.HealthCheckGrace)
	}

	for _, id := range ids {
		r := doc.Resources[id]
		if r.Type != "AWS::AutoScaling::LifecycleHook" {
			continue
		}
		var h struct {
			Group      any    `json:"AutoScalingGroupName"`
			Transition string `json:"LifecycleTransition"`
			Heartbeat  *int   `json:"HeartbeatTimeout"`
		}
		if err := json.Unmarshal(r.Properties, &h); err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		if ref(h.Group) == t.Group && h.Transition == "autoscaling:EC2_INSTANCE_TERMINATING" {
			t.Hook = id
			t.HookTimeout = time.Hour // the API's default heartbeat timeout
			if h.Heartbeat != nil {
				t.HookTimeout = seconds(*h.Heartbeat)
			}
		}
	}

	qr, ok := doc.Resources[t.Queue]
	if !ok || qr.Type != "AWS::SQS::Queue" {
		return nil, fmt.Errorf("%s: the policy's queue %q is not an AWS::SQS::Queue of the template", path, t.Queue)
	}
	var q struct {
		Visibility *int `json:"VisibilityTimeout"`
		Redrive    *struct {
			MaxReceiveCount any `json:"maxReceiveCount"`
		} `json:"RedrivePolicy"`
	}
	if err := json.Unmarshal(qr.Properties, &q); err != nil {
		return nil, fmt.Errorf("%s: %w", t.Queue, err)
	}
	t.Visibility = 30 * time.Second // SQS's default
	if q.Visibility != nil {
		t.Visibility = seconds(*q.Visibility)
	}
	if q.Redrive != nil {
		if t.MaxReceiveCount, err = integer(q.Redrive.MaxReceiveCount); err != nil {
			return nil, fmt.Errorf("%s maxReceiveCount: %w", t.Queue, err)
		}
	}

	if g.LaunchTemplate != nil {
		t.LaunchTemplate = ref(g.LaunchTemplate.ID)
		if lt, ok := doc.Resources[t.LaunchTemplate]; ok && lt.Type == "AWS::EC2::LaunchTemplate" {
			var l struct {
				Data struct {
					InstanceType string `json:"InstanceType"`
					Credit       *struct {
						CPUCredits string `json:"CpuCredits"`
					} `json:"CreditSpecification"`
				} `json:"LaunchTemplateData"`
			}
			if err := json.Unmarshal(lt.Properties, &l); err != nil {
				return nil, fmt.Errorf("%s: %w", t.LaunchTemplate, err)
			}
			t.InstanceType = l.Data.InstanceType
			if l.Data.Credit != nil {
				t.CPUCredits = l.Data.Credit.CPUCredits
			}
		}
	}
	return t, nil
}

// Backlog evaluates the template's metric math for a datapoint; ok is false
// when CloudWatch would produce no datapoint.
func (t *Template) Backlog(visible, inService float64) (v float64, ok bool) {
	v, err := t.expr.eval(map[string]float64{t.QueueMetric: visible, t.InServiceMetric: inService})
	return v, err == nil
}

// ref returns the logical id of a {"Ref": id} or {"Fn::GetAtt": [id, ...]}.
func ref(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	if id, ok := m["Ref"].(string); ok {
		return id
	}
	if ga, ok := m["Fn::GetAtt"].([]any); ok && len(ga) > 0 {
		id, _ := ga[0].(string)
		return id
	}
	return ""
}

func dimensionRef(ds []dimension, name string) string {
	for _, d := range ds {
		if d.Name == name {
			return ref(d.Value)
		}
	}
	return ""
}

// integer reads a CloudFormation number, which may be a JSON number or a
// string ("3"), as CDK writes group sizes.
func integer(v any) (int, error) {
	switch x := v.(type) {
	case float64:
		return int(x), nil
	case string:
		return strconv.Atoi(x)
	case nil:
		return 0, errors.New("missing")
	}
	return 0, fmt.Errorf("not a literal number: %v (synthesize with concrete sizes)", v)
}

func seconds(s int) time.Duration { return time.Duration(s) * time.Second }
