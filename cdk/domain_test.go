package main

import (
	"testing"

	"github.com/aws/jsii-runtime-go"
)

// GIVEN domainName and hostedZoneId WHEN synthesized THEN the stack serves
// HTTPS under that name with nothing done by hand: a certificate validated
// through DNS in that zone, the HTTPS listener and redirect of certificateArn
// with it, and an alias record pointing the name at the load balancer.
func TestDomainGetsDnsValidatedCertificateHttpsAndAlias(t *testing.T) {
	tpl := stackTemplate(t, domainStack)
	domain, zone := domainContext["domainName"], domainContext["hostedZoneId"]
	certID, _ := onlyResource(t, domainStack, "AWS::CertificateManager::Certificate", ".")
	albID, alb := onlyResource(t, domainStack, "AWS::ElasticLoadBalancingV2::LoadBalancer", ".")

	check(t, "a certificate for the domain, validated by DNS records in the hosted zone", func() {
		tpl.HasResourceProperties(jsii.String("AWS::CertificateManager::Certificate"), object{
			"DomainName":              domain,
			"ValidationMethod":        "DNS",
			"DomainValidationOptions": array(object{"DomainName": domain, "HostedZoneId": zone}),
		})
	})
	checkServesHttps(t, tpl, object{"Ref": certID})

	// The ALB is IPv4 only, so an A alias is the whole of it; a dualstack ALB
	// would need an AAAA alias too.
	if ipType := props(alb, "IpAddressType"); ipType != nil && ipType != "ipv4" {
		t.Errorf("the ALB's IpAddressType is %v: add an AAAA alias record for it", ipType)
	}
	check(t, "one record: the domain, an A alias of the ALB, in the hosted zone", func() {
		tpl.ResourceCountIs(jsii.String("AWS::Route53::RecordSet"), jsii.Number(1))
		tpl.HasResourceProperties(jsii.String("AWS::Route53::RecordSet"), object{
			"Name":         domain + ".",
			"Type":         "A",
			"HostedZoneId": zone,
			"AliasTarget": object{
				"DNSName":      object{"Fn::Join": array("", array("dualstack.", object{"Fn::GetAtt": array(albID, "DNSName")}))},
				"HostedZoneId": object{"Fn::GetAtt": array(albID, "CanonicalHostedZoneID")},
			},
		})
	})
	check(t, "the site URL is https on the domain", func() {
		tpl.HasOutput(jsii.String("SiteUrl"), object{"Value": "https://" + domain})
	})
}

// GIVEN neither HTTPS option WHEN synthesized THEN the stack makes no
// certificate and no record, and its site URL is the ALB's plain HTTP name
// (TestBuiltinValidatorReportsNothing checks the warning that says so).
func TestWithoutHttpsSettingsNoCertificateNorRecord(t *testing.T) {
	for _, stack := range []string{defaultStack, edgeStack} {
		tpl := stackTemplate(t, stack)
		check(t, stack+": no certificate, no record", func() {
			tpl.ResourceCountIs(jsii.String("AWS::CertificateManager::Certificate"), jsii.Number(0))
			tpl.ResourceCountIs(jsii.String("AWS::Route53::RecordSet"), jsii.Number(0))
		})
	}
}
