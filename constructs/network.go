package constructs

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	cdkconstructs "github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// NetworkProps configures the VPC. Zero values mean the documented default.
type NetworkProps struct {
	// Cidr of the VPC. Default 10.0.0.0/16.
	Cidr string
	// MaxAzs is the number of Availability Zones. Default 2: the load balancer and both tiers span two.
	MaxAzs float64
	// NatGateways is the number of NAT gateways. Default 2, one per AZ, so that
	// losing one AZ does not cut the other AZ's instances off AWS APIs and apt.
	// 1 saves about 0.045 USD/hour at the price of that cross-AZ dependency.
	NatGateways float64
	// FlowLogsBucket receives the VPC flow logs (under vpc-flow-logs/; kept
	// as long as the bucket keeps objects). Delivery to S3 needs no IAM role,
	// unlike delivery to CloudWatch Logs. Required.
	FlowLogsBucket awss3.IBucket
	// RestrictDefaultSecurityGroup removes the rules of the VPC's default
	// security group (a Lambda-backed custom resource). Default true.
	RestrictDefaultSecurityGroup *bool
}

// Network is the VPC: public subnets (ALB, NAT), private subnets with egress
// (instances), isolated subnets (database), an S3 gateway endpoint and flow logs.
type Network interface {
	cdkconstructs.Construct
	Vpc() awsec2.Vpc
	// PublicSubnets, PrivateSubnets and DatabaseSubnets select the three tiers.
	PublicSubnets() *awsec2.SubnetSelection
	PrivateSubnets() *awsec2.SubnetSelection
	DatabaseSubnets() *awsec2.SubnetSelection
}

type network struct {
	cdkconstructs.Construct
	vpc awsec2.Vpc
}

// Subnet group names; they also name the subnets in the console.
const (
	publicSubnetName   = "public"
	privateSubnetName  = "private"
	databaseSubnetName = "database"
)

// NewNetwork creates the VPC.
func NewNetwork(scope cdkconstructs.Construct, id string, props *NetworkProps) Network {
	p := NetworkProps{}
	if props != nil {
		p = *props
	}
	if p.Cidr == "" {
		p.Cidr = "10.0.0.0/16"
	}
	if p.MaxAzs == 0 {
		p.MaxAzs = 2
	}
	if p.NatGateways == 0 {
		p.NatGateways = 2
	}
	if p.RestrictDefaultSecurityGroup == nil {
		p.RestrictDefaultSecurityGroup = jsii.Bool(true)
	}

	this := &network{}
	cdkconstructs.NewConstruct_Override(this, scope, jsii.String(id))
	vpc := awsec2.NewVpc(this, jsii.String("Vpc"), &awsec2.VpcProps{
		IpAddresses:                  awsec2.IpAddresses_Cidr(jsii.String(p.Cidr)),
		MaxAzs:                       jsii.Number(p.MaxAzs),
		NatGateways:                  jsii.Number(p.NatGateways),
		RestrictDefaultSecurityGroup: p.RestrictDefaultSecurityGroup,
		SubnetConfiguration: &[]*awsec2.SubnetConfiguration{
			{Name: jsii.String(publicSubnetName), SubnetType: awsec2.SubnetType_PUBLIC, CidrMask: jsii.Number(24)},
			{Name: jsii.String(privateSubnetName), SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS, CidrMask: jsii.Number(22)},
			{Name: jsii.String(databaseSubnetName), SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED, CidrMask: jsii.Number(24)},
		},
		// S3 traffic (uploads, processed videos, the binaries) stays inside AWS
		// instead of paying NAT processing per GB.
		GatewayEndpoints: &map[string]*awsec2.GatewayVpcEndpointOptions{
			"S3": {
				Service: awsec2.GatewayVpcEndpointAwsService_S3(),
				Subnets: &[]*awsec2.SubnetSelection{{SubnetGroupName: jsii.String(privateSubnetName)}},
			},
		},
		FlowLogs: &map[string]*awsec2.FlowLogOptions{
			"All": {
				Destination: awsec2.FlowLogDestination_ToS3(p.FlowLogsBucket, jsii.String("vpc-flow-logs/"), nil),
				TrafficType: awsec2.FlowLogTrafficType_ALL,
			},
		},
	})
	this.vpc = vpc
	return this
}

func (n *network) Vpc() awsec2.Vpc { return n.vpc }

func (n *network) PublicSubnets() *awsec2.SubnetSelection {
	return &awsec2.SubnetSelection{SubnetGroupName: jsii.String(publicSubnetName)}
}

func (n *network) PrivateSubnets() *awsec2.SubnetSelection {
	return &awsec2.SubnetSelection{SubnetGroupName: jsii.String(privateSubnetName)}
}

func (n *network) DatabaseSubnets() *awsec2.SubnetSelection {
	return &awsec2.SubnetSelection{SubnetGroupName: jsii.String(databaseSubnetName)}
}
