package main

import (
	"strings"
	"testing"
)

// GIVEN the web tier WHEN a node leaves (scale-in, deploy) THEN the load
// balancer drains it for as long as it lets a request idle, so an upload it
// accepted is not cut after 30 s while the idle timeout allows 300.
func TestWebDrainingLastsAsLongAsTheIdleTimeout(t *testing.T) {
	for _, stack := range allStacks {
		attr := func(typ, idPattern, key string) string {
			_, r := onlyResource(t, stack, typ, idPattern)
			for _, a := range props(r, attributesKey(typ)).([]any) {
				if kv := a.(map[string]any); kv["Key"] == key {
					return kv["Value"].(string)
				}
			}
			return ""
		}
		idle := attr("AWS::ElasticLoadBalancingV2::LoadBalancer", ".", "idle_timeout.timeout_seconds")
		drain := attr("AWS::ElasticLoadBalancingV2::TargetGroup", ".", "deregistration_delay.timeout_seconds")
		if idle == "" || drain != idle {
			t.Errorf("%s: deregistration delay %q s, idle timeout %q s: want them equal", stack, drain, idle)
		}
	}
}

func attributesKey(typ string) string {
	if typ == "AWS::ElasticLoadBalancingV2::TargetGroup" {
		return "TargetGroupAttributes"
	}
	return "LoadBalancerAttributes"
}

// GIVEN the instance roles WHEN they read an object that does not exist THEN
// S3 can answer 404, not 403: each role may list the prefixes it reads, so a
// missing original is a missing original, not a storage outage.
func TestRolesMayListThePrefixesTheyRead(t *testing.T) {
	for tier, want := range map[string]string{
		"WebTier":    `"s3:prefix":["originals/*","processed/*","posters/*"]`,
		"WorkerTier": `"s3:prefix":["originals/*"]`,
	} {
		policy := flatten(props(mustResourceOf(t, defaultStack, "AWS::IAM::Policy", "^"+tier+"InstanceRoleDefaultPolicy"), "PolicyDocument"))
		if !strings.Contains(policy, `"Action":"s3:ListBucket","Condition":{"StringLikeIfExists":{`+want+`}}`) {
			t.Errorf("%s role may not list %s of the media bucket:\n%s", tier, want, policy)
		}
	}
}

// GIVEN removalPolicy=destroy WHEN the stack is deleted THEN the tiers' log
// groups go too; with the default retain they stay.
func TestLogGroupsFollowTheRemovalPolicy(t *testing.T) {
	for stack, want := range map[string]string{defaultStack: "Retain", variantStack: "Delete", labStack: "Delete"} {
		groups := resourcesOf(t, stack, "AWS::Logs::LogGroup")
		if len(groups) == 0 {
			t.Fatalf("%s: no log group", stack)
		}
		for id, g := range groups {
			if g["DeletionPolicy"] != want {
				t.Errorf("%s: log group %s DeletionPolicy %v, want %s", stack, id, g["DeletionPolicy"], want)
			}
		}
	}
}

// GIVEN mailFrom WHEN the stack is synthesized THEN the web role may send
// mail through SES from that address only; without it, not at all.
func TestWebRoleSendsMailFromTheConfiguredAddressOnly(t *testing.T) {
	policy := func(stack string) string {
		return flatten(props(mustResourceOf(t, stack, "AWS::IAM::Policy", "^WebTierInstanceRoleDefaultPolicy"), "PolicyDocument"))
	}
	want := `"Action":"ses:SendEmail","Condition":{"StringEquals":{"ses:FromAddress":"` + variantContext["mailFrom"] + `"}}`
	if got := policy(variantStack); !strings.Contains(got, want) {
		t.Errorf("%s: the web role may not send from %s:\n%s", variantStack, variantContext["mailFrom"], got)
	}
	if got := policy(defaultStack); strings.Contains(got, "ses:") {
		t.Errorf("%s: the web role may send mail without mailFrom:\n%s", defaultStack, got)
	}
}

// GIVEN both tiers' systemd units WHEN a binary never gets ready, wedges, or
// keeps crashing THEN systemd sees it (notify protocol and watchdog) and,
// after 5 starts in 10 minutes, hands the node to the unit that stops the
// instance for its group to replace.
func TestUnitsWatchTheBinaryAndGiveUpOnACrashLoop(t *testing.T) {
	for _, stack := range allStacks {
		for _, tier := range tiers {
			script := bootScript(t, stack, tier.name)
			unit := heredoc(t, script, "/etc/systemd/system/anb-"+tier.role+".service")
			for _, want := range []string{"\nType=notify\n", "\nWatchdogSec=60\n", "\nRestart=always\n",
				"\nStartLimitIntervalSec=600\n", "\nStartLimitBurst=5\n", "\nOnFailure=anb-node-failed.service\n"} {
				if !strings.Contains(unit, want) {
					t.Errorf("%s %s unit lacks %q:\n%s", stack, tier.role, strings.TrimSpace(want), unit)
				}
			}
			if failed := heredoc(t, script, "/etc/systemd/system/anb-node-failed.service"); !strings.Contains(failed, "systemctl poweroff") {
				t.Errorf("%s %s: anb-node-failed does not stop the instance:\n%s", stack, tier.role, failed)
			}
		}
	}
}
