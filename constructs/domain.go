package constructs

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awscertificatemanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsroute53"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsroute53targets"
	cdkconstructs "github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// SiteDomainProps names the site's domain and the Route 53 public hosted zone
// that holds it. Both required.
type SiteDomainProps struct {
	// DomainName the site is served under, e.g. videos.example.com.
	DomainName string
	// HostedZoneId of the public hosted zone DomainName is in (the zone of
	// the domain itself or of a parent), e.g. Z0123456789ABCDEFGHIJ.
	HostedZoneId string
}

// SiteDomain is the site's own name: an ACM certificate for it, validated
// through DNS in the hosted zone without hand work, and (AliasTo) the record
// that points the name at the load balancer.
type SiteDomain interface {
	cdkconstructs.Construct
	DomainName() string
	HostedZone() awsroute53.IHostedZone
	Certificate() awscertificatemanager.Certificate
	// AliasTo points the domain at the load balancer.
	AliasTo(alb awselasticloadbalancingv2.ApplicationLoadBalancer) awsroute53.ARecord
}

type siteDomain struct {
	cdkconstructs.Construct
	name        string
	zone        awsroute53.IHostedZone
	certificate awscertificatemanager.Certificate
}

// NewSiteDomain imports the hosted zone and creates the certificate.
// CloudFormation writes the validation record into the zone and waits until
// ACM issues the certificate, so the HTTPS listener never gets a pending one.
func NewSiteDomain(scope cdkconstructs.Construct, id string, props *SiteDomainProps) SiteDomain {
	this := &siteDomain{name: props.DomainName}
	cdkconstructs.NewConstruct_Override(this, scope, jsii.String(id))
	// Imported by id: synthesis has no account to look the zone up in. CDK
	// only uses the zone's name to qualify relative record names, and this
	// construct writes fully qualified ones (AliasTo), so the domain stands
	// in for it whether the zone is the domain's own or a parent's.
	this.zone = awsroute53.HostedZone_FromHostedZoneAttributes(this, jsii.String("Zone"), &awsroute53.HostedZoneAttributes{
		HostedZoneId: jsii.String(props.HostedZoneId),
		ZoneName:     jsii.String(props.DomainName),
	})
	this.certificate = awscertificatemanager.NewCertificate(this, jsii.String("Certificate"), &awscertificatemanager.CertificateProps{
		DomainName: jsii.String(props.DomainName),
		Validation: awscertificatemanager.CertificateValidation_FromDns(this.zone),
	})
	return this
}

func (d *siteDomain) AliasTo(alb awselasticloadbalancingv2.ApplicationLoadBalancer) awsroute53.ARecord {
	// An A alias only: the load balancer is IPv4 (no AAAA to point at).
	return awsroute53.NewARecord(d, jsii.String("Alias"), &awsroute53.ARecordProps{
		Zone:       d.zone,
		RecordName: jsii.String(d.name + "."),
		Target:     awsroute53.RecordTarget_FromAlias(awsroute53targets.NewLoadBalancerTarget(alb, nil)),
	})
}

func (d *siteDomain) DomainName() string                             { return d.name }
func (d *siteDomain) HostedZone() awsroute53.IHostedZone             { return d.zone }
func (d *siteDomain) Certificate() awscertificatemanager.Certificate { return d.certificate }
