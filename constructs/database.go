package constructs

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsrds"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	cdkconstructs "github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// DatabaseProps configures the PostgreSQL instance. Zero values mean the default.
type DatabaseProps struct {
	// Vpc and Subnets place the instance; Subnets should be isolated ones. Required.
	Vpc     awsec2.IVpc
	Subnets *awsec2.SubnetSelection
	// InstanceClass, with or without the "db." prefix. Default db.t4g.micro
	// (2 vCPU burstable Graviton, 1 GiB), plenty for votes and video rows.
	InstanceClass string
	// MultiAz keeps a synchronous standby in the second AZ. Default true.
	MultiAz *bool
	// Storage of the instance. Zero values mean its defaults.
	Storage DatabaseStorage
	// BackupRetention of automated backups. Default 7 days.
	BackupRetention awscdk.Duration
	// RemovalPolicy: RETAIN (the default) keeps the data safe: deletion
	// protection is on, deleting the instance leaves a final snapshot, and the
	// credentials secret stays so that snapshot can be used. DESTROY deletes
	// instance and secret with the stack.
	RemovalPolicy awscdk.RemovalPolicy
	// DatabaseName and Username. Defaults "anb" and "anb".
	DatabaseName, Username string
}

// DatabaseStorage is the RDS storage and monitoring. Zero values mean the default.
type DatabaseStorage struct {
	// Type is "gp3" (the default) or "gp2".
	Type string
	// AllocatedGiB is the storage at creation. Default 20; storage
	// autoscaling may grow it up to MaxAllocatedGiB (default 100).
	AllocatedGiB, MaxAllocatedGiB float64
	// MonitoringInterval of RDS enhanced monitoring, in seconds (it creates
	// a monitoring role). Default 0: off, the basic CloudWatch metrics only.
	MonitoringInterval float64
}

// postgresPort is PostgreSQL's standard port, spelled out so security group
// rules show 5432 rather than a reference to the instance's endpoint.
const postgresPort = 5432

// Database is the RDS PostgreSQL instance and the Secrets Manager secret with
// its generated credentials (JSON: host, port, username, password, dbname).
type Database interface {
	cdkconstructs.Construct
	Instance() awsrds.DatabaseInstance
	Secret() awssecretsmanager.ISecret
	// AllowFrom opens the database port to a client (and the client's egress).
	AllowFrom(client awsec2.IConnectable, description string)
}

type database struct {
	cdkconstructs.Construct
	instance awsrds.DatabaseInstance
}

// NewDatabase creates the instance in its own security group with no ingress;
// clients are let in with AllowFrom.
func NewDatabase(scope cdkconstructs.Construct, id string, props *DatabaseProps) Database {
	p := *props
	if p.InstanceClass == "" {
		p.InstanceClass = "db.t4g.micro"
	}
	if p.MultiAz == nil {
		p.MultiAz = jsii.Bool(true)
	}
	if p.Storage.Type == "" {
		p.Storage.Type = "gp3"
	}
	if p.Storage.AllocatedGiB == 0 {
		p.Storage.AllocatedGiB = 20
	}
	if p.Storage.MaxAllocatedGiB == 0 {
		p.Storage.MaxAllocatedGiB = 100
	}
	if p.BackupRetention == nil {
		p.BackupRetention = awscdk.Duration_Days(jsii.Number(7))
	}
	if p.RemovalPolicy == "" {
		p.RemovalPolicy = awscdk.RemovalPolicy_RETAIN
	}
	if p.DatabaseName == "" {
		p.DatabaseName = "anb"
	}
	if p.Username == "" {
		p.Username = "anb"
	}
	retain := p.RemovalPolicy != awscdk.RemovalPolicy_DESTROY

	instancePolicy := awscdk.RemovalPolicy_DESTROY
	if retain {
		instancePolicy = awscdk.RemovalPolicy_SNAPSHOT
	}

	this := &database{}
	cdkconstructs.NewConstruct_Override(this, scope, jsii.String(id))
	// The password is generated into Secrets Manager; the template only holds
	// a {{resolve:secretsmanager:...}} reference to it.
	credentials := awsrds.NewDatabaseSecret(this, jsii.String("Credentials"), &awsrds.DatabaseSecretProps{
		Username: jsii.String(p.Username),
	})
	credentials.ApplyRemovalPolicy(p.RemovalPolicy)
	sg := awsec2.NewSecurityGroup(this, jsii.String("SecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc:              p.Vpc,
		Description:      jsii.String("ANB PostgreSQL: 5432 from the web and worker tiers only"),
		AllowAllOutbound: jsii.Bool(false),
	})
	instance := awsrds.NewDatabaseInstance(this, jsii.String("Postgres"), &awsrds.DatabaseInstanceProps{
		Engine: awsrds.DatabaseInstanceEngine_Postgres(&awsrds.PostgresInstanceEngineProps{
			// The major version only: AutoMinorVersionUpgrade moves the
			// instance to new minors, and a pinned minor in the template would
			// then make every later deploy try to move it back (or fail once
			// RDS retires that minor). New instances get the current minor.
			Version: awsrds.PostgresEngineVersion_Of(jsii.String(PostgresMajorVersion), jsii.String(PostgresMajorVersion), nil),
		}),
		InstanceType:            awsec2.NewInstanceType(jsii.String(strings.TrimPrefix(p.InstanceClass, "db."))),
		Vpc:                     p.Vpc,
		VpcSubnets:              p.Subnets,
		SecurityGroups:          &[]awsec2.ISecurityGroup{sg},
		Port:                    jsii.Number(postgresPort),
		PubliclyAccessible:      jsii.Bool(false),
		MultiAz:                 p.MultiAz,
		Credentials:             awsrds.Credentials_FromSecret(credentials, nil),
		DatabaseName:            jsii.String(p.DatabaseName),
		StorageType:             awsrds.StorageType(strings.ToUpper(p.Storage.Type)),
		AllocatedStorage:        jsii.Number(p.Storage.AllocatedGiB),
		MaxAllocatedStorage:     jsii.Number(p.Storage.MaxAllocatedGiB),
		MonitoringInterval:      monitoringInterval(p.Storage.MonitoringInterval),
		StorageEncrypted:        jsii.Bool(true),
		BackupRetention:         p.BackupRetention,
		CopyTagsToSnapshot:      jsii.Bool(true),
		AutoMinorVersionUpgrade: jsii.Bool(true),
		DeletionProtection:      jsii.Bool(retain),
		RemovalPolicy:           instancePolicy,
	})

	cdknag.NagSuppressions_AddResourceSuppressions(instance, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-RDS11"),
		Reason: jsii.String("5432 is reachable only from the web and worker security groups inside the VPC; a non-standard port adds no protection there."),
	}}, jsii.Bool(false))
	cdknag.NagSuppressions_AddResourceSuppressions(credentials, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-SMG4"),
		Reason: jsii.String("The binaries read the database secret once at start; rotation would need a rotation Lambda with Secrets Manager access from isolated subnets and a reconnect-on-auth-failure path the app does not have yet."),
	}}, jsii.Bool(true))
	if !*p.MultiAz {
		cdknag.NagSuppressions_AddResourceSuppressions(instance, &[]*cdknag.NagPackSuppression{{
			Id:     jsii.String("AwsSolutions-RDS3"),
			Reason: jsii.String("Single-AZ database chosen explicitly (context multiAz=false) for a cost-sensitive, non-production environment."),
		}}, jsii.Bool(false))
	}
	if !retain {
		cdknag.NagSuppressions_AddResourceSuppressions(instance, &[]*cdknag.NagPackSuppression{{
			Id:     jsii.String("AwsSolutions-RDS10"),
			Reason: jsii.String("Removal policy DESTROY chosen explicitly (context removalPolicy=destroy) for a throwaway environment that `cdk destroy` must remove."),
		}}, jsii.Bool(false))
	}
	this.instance = instance
	return this
}

// PostgresMajorVersion is the PostgreSQL major version of the instance.
const PostgresMajorVersion = "17"

func monitoringInterval(seconds float64) awscdk.Duration {
	if seconds == 0 {
		return nil
	}
	return awscdk.Duration_Seconds(jsii.Number(seconds))
}

func (d *database) Instance() awsrds.DatabaseInstance { return d.instance }
func (d *database) Secret() awssecretsmanager.ISecret { return d.instance.Secret() }

func (d *database) AllowFrom(client awsec2.IConnectable, description string) {
	client.Connections().AllowTo(d.instance, awsec2.Port_Tcp(jsii.Number(postgresPort)), jsii.String(description))
}
