package constructs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	cdkconstructs "github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Names of the executables inside a release directory: the package paths of
// the module's two main packages, so `go build -o DIR ./app ./worker` fills it.
const (
	AppBinary    = "app"
	WorkerBinary = "worker"
)

// Arch is a CPU architecture the instances run, spelled as GOARCH.
type Arch string

const (
	AMD64 Arch = "amd64" // x86-64 instances (t3, c7i...)
	ARM64 Arch = "arm64" // Graviton instances (t4g, c7g...)
)

// ArchOf is the architecture of an EC2 instance type, as CDK reads it from
// the type's name (Graviton families carry a "g": c7g, t4g, m7gd...).
func ArchOf(instanceType string) Arch {
	if awsec2.NewInstanceType(jsii.String(instanceType)).Architecture() == awsec2.InstanceArchitecture_ARM_64 {
		return ARM64
	}
	return AMD64
}

// BinaryPath is where BuildBinaries puts one executable for one architecture.
func BinaryPath(dir string, arch Arch, name string) string {
	return filepath.Join(dir, "linux-"+string(arch), name)
}

// BuildBinaries cross-compiles the module's main packages at moduleDir for
// the instances, each package for its architecture (pkgs: "app" -> amd64),
// into BinaryPath(outDir, arch, name): static and reproducible (the same
// source always gives the same bytes, so an unchanged app keeps its asset
// hash and a deploy does not replace instances for nothing).
func BuildBinaries(moduleDir, outDir string, pkgs map[string]Arch) error {
	byArch := map[Arch][]string{}
	for pkg, arch := range pkgs {
		byArch[arch] = append(byArch[arch], "./"+pkg)
	}
	for arch, list := range byArch {
		sort.Strings(list)
		args := append([]string{"build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=",
			"-o", BinaryPath(outDir, arch, "") + string(filepath.Separator)}, list...)
		cmd := exec.Command("go", args...)
		cmd.Dir = moduleDir
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+string(arch), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("cross-compiling %v for linux/%s: %w\n%s", list, arch, err, out)
		}
	}
	return nil
}

// ReleaseProps points at the built executables.
type ReleaseProps struct {
	// Dir holds the executables as BuildBinaries writes them. Required.
	Dir string
	// AppArch and WorkerArch select the build of each executable. Default AMD64.
	AppArch, WorkerArch Arch
}

// Release ships the two executables as S3 file assets (one per role, so a
// worker change does not replace the web nodes and vice versa).
type Release interface {
	cdkconstructs.Construct
	App() awss3assets.Asset
	Worker() awss3assets.Asset
}

type release struct {
	cdkconstructs.Construct
	app, worker awss3assets.Asset
}

// NewRelease stages the executables found in props.Dir.
func NewRelease(scope cdkconstructs.Construct, id string, props *ReleaseProps) Release {
	if props == nil || props.Dir == "" {
		panic("constructs.NewRelease: ReleaseProps.Dir (the directory of the built binaries) is required")
	}
	this := &release{}
	cdkconstructs.NewConstruct_Override(this, scope, jsii.String(id))
	asset := func(name string, arch Arch) awss3assets.Asset {
		if arch == "" {
			arch = AMD64
		}
		path := BinaryPath(props.Dir, arch, name)
		if _, err := os.Stat(path); err != nil {
			panic(fmt.Sprintf("constructs.NewRelease: %v (run BuildBinaries first)", err))
		}
		return awss3assets.NewAsset(this, jsii.String(name), &awss3assets.AssetProps{
			Path:        jsii.String(path),
			DisplayName: jsii.String(fmt.Sprintf("ANB %s binary (linux/%s)", name, arch)),
		})
	}
	this.app, this.worker = asset(AppBinary, props.AppArch), asset(WorkerBinary, props.WorkerArch)
	return this
}

func (r *release) App() awss3assets.Asset    { return r.app }
func (r *release) Worker() awss3assets.Asset { return r.worker }
