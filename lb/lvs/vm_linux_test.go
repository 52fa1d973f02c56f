package lvs

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/testenv"
)

// vmModules are loaded in the VM, dependencies first.
var vmModules = []string{
	"libcrc32c", "nf_defrag_ipv4", "nf_defrag_ipv6", "nf_conntrack", "ip_vs",
	"ip_vs_rr", "ip_vs_wrr", "ip_vs_lc", "ip_vs_wlc", "ip_vs_sh", "dummy",
}

// vmInit is the VM's /init: run the no-IPVS check, load IPVS, run the
// kernel tests, print one result line, power off.
const vmInit = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin HOME=/tmp
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
ip link set lo up
echo "webfarm-vm: kernel $(uname -r), $(nproc) cpu"
cd /tmp
` + vmEnv + `=noipvs /lvs.test -test.run '^TestNoIPVS$' -test.v -test.timeout 60s
noipvs=$?
for m in %s; do insmod /modules/$m.ko || echo "webfarm-vm: insmod $m failed"; done
` + vmEnv + `=1 /lvs.test -test.run '^TestKernel$' -test.v -test.timeout %s
ipvs=$?
echo "webfarm-vm: result noipvs=$noipvs ipvs=$ipvs"
poweroff -f
`

// runInVM runs TestKernel, and TestNoIPVS, on a real kernel with IPVS
// inside a qemu VM (software emulation), for TestKernel when this machine
// cannot run them itself. The VM's output streams into t's log; its
// failures are t's.
func runInVM(t *testing.T) {
	switch {
	case testing.Short():
		t.Skip("-short: no VM")
	case runtime.GOARCH != "amd64":
		testenv.Need(t, "an x86-64 machine for the test VM", "this is "+runtime.GOARCH+": run TestKernel* as root on a kernel with IPVS instead")
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Fatalf("qemu-system-x86_64 is missing: install it (scripts/deps.sh test, or apt-get install qemu-system-x86): %v", err)
	}
	busybox, err := staticBusybox()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 210*time.Second)
	defer cancel()
	kdir, err := testKernel(ctx, t)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	start := time.Now()
	bin := filepath.Join(dir, "lvs.test")
	if err := buildStaticTest(ctx, bin); err != nil {
		t.Fatal(err)
	}
	t.Logf("built the static test binary in %s", time.Since(start).Round(time.Millisecond))
	initrd := filepath.Join(dir, "initrd.cpio")
	if err := writeInitramfs(initrd, kdir, busybox, bin); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	cmd := exec.CommandContext(ctx, qemu, "-accel", "tcg", "-m", "512", "-smp", "1", "-nographic", "-no-reboot",
		"-nic", "none", "-kernel", filepath.Join(kdir, "vmlinuz"), "-initrd", initrd,
		"-append", "console=ttyS0 quiet panic=-1 oops=panic")
	cmd.Stdin = nil
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start qemu: %v", err)
	}
	var log bytes.Buffer
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := ansi.ReplaceAllString(strings.TrimRight(sc.Text(), "\r"), "")
		log.WriteString(line + "\n")
		t.Log(line)
	}
	werr := cmd.Wait()
	t.Logf("VM ran for %s", time.Since(start).Round(time.Millisecond))
	if ctx.Err() != nil {
		t.Fatalf("the VM did not finish in time: %v", ctx.Err())
	}
	if err := checkVMLog(log.String()); err != nil {
		t.Fatal(err)
	}
	if werr != nil {
		t.Errorf("qemu: %v", werr)
	}
}

// ansi matches the terminal escapes the VM's firmware prints.
var ansi = regexp.MustCompile(`\x1b(\[[0-9;?]*[a-zA-Z]|c)`)

// vmPass matches a top-level test's PASS line in the VM's -test.v output
// (no indent) or a subtest's (4 spaces), not the deeper-indented lines a
// test logs (the Permission child's output).
var vmPass = regexp.MustCompile(`(?m)^( {4})?--- PASS: (\S+) \(`)

var vmResult = regexp.MustCompile(`(?m)^webfarm-vm: result noipvs=(\d+) ipvs=(\d+)$`)

// checkVMLog turns the VM's output into this test's verdict: both phases
// exit 0, TestNoIPVS, TestKernel and each of its subtests passed (a skip
// is a failure).
func checkVMLog(s string) error {
	m := vmResult.FindStringSubmatch(s)
	if m == nil {
		return errors.New("the VM printed no result line: it crashed or timed out (see the log above)")
	}
	var errs []error
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "--- FAIL:") {
			errs = append(errs, fmt.Errorf("in the VM: %s", strings.TrimSpace(line)))
		}
	}
	if m[1] != "0" || m[2] != "0" {
		errs = append(errs, fmt.Errorf("in the VM: exit status %s before loading IPVS, %s after", m[1], m[2]))
	}
	names := []string{"TestNoIPVS", "TestKernel"}
	for _, kt := range kernelTests {
		names = append(names, "TestKernel/"+kt.name)
	}
	passed := map[string]bool{}
	for _, m := range vmPass.FindAllStringSubmatch(s, -1) {
		if (m[1] == "") == !strings.Contains(m[2], "/") {
			passed[m[2]] = true
		}
	}
	for _, name := range names {
		if !passed[name] {
			errs = append(errs, fmt.Errorf("in the VM: %s did not pass", name))
		}
	}
	return errors.Join(errs...)
}

// staticBusybox finds a statically linked busybox.
func staticBusybox() (string, error) {
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		static := true
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				static = false
			}
		}
		f.Close()
		if static {
			return p, nil
		}
	}
	return "", errors.New("no static busybox: install busybox-static (scripts/deps.sh test)")
}

// testKernel returns the directory of the cached test kernel, fetching it
// with testdata/kernel.sh the first time on this machine.
func testKernel(ctx context.Context, t *testing.T) (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(home, ".cache", "webfarm", "lvs-kernel")
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(filepath.Join(dir, "vmlinuz")); err == nil {
		return dir, nil
	}
	t.Logf("fetching a Debian cloud kernel with IPVS into %s (once per machine)", dir)
	script, err := filepath.Abs("testdata/kernel.sh")
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "sh", script, dir)
	cmd.Dir = os.TempDir()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("fetch the test kernel (%s): %v\n%s", script, err, out)
	}
	return dir, nil
}

// buildStaticTest builds this package's tests as a static binary.
func buildStaticTest(ctx context.Context, out string) error {
	// go test puts its own go command first in PATH for the tests it runs.
	gobin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("no go command to build the VM's test binary: %w", err)
	}
	cmd := exec.CommandContext(ctx, gobin, "test", "-c", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GOOS=linux", "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build the VM's test binary: %v\n%s", err, b)
	}
	return nil
}

// writeInitramfs writes an uncompressed newc cpio archive (the kernel
// unpacks it faster than a compressed one under emulation).
func writeInitramfs(path, kdir, busybox, testBin string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := &cpioWriter{w: bufio.NewWriterSize(f, 1<<20)}
	for _, d := range []string{"bin", "dev", "proc", "sys", "tmp", "modules"} {
		w.dir(d)
	}
	w.node("dev/console", syscall.S_IFCHR|0o600, 5, 1)
	w.file("init", 0o755, []byte(fmt.Sprintf(vmInit, strings.Join(vmModules, " "), "170s")))
	for _, src := range []struct{ from, to string }{{busybox, "bin/busybox"}, {testBin, "lvs.test"}} {
		b, err := os.ReadFile(src.from)
		if err != nil {
			f.Close()
			return err
		}
		w.file(src.to, 0o755, b)
	}
	for _, m := range vmModules {
		b, err := os.ReadFile(filepath.Join(kdir, "modules", m+".ko"))
		if err != nil {
			f.Close()
			return fmt.Errorf("test kernel module %s: %w (delete %s to fetch it again)", m, err, kdir)
		}
		w.file("modules/"+m+".ko", 0o644, b)
	}
	w.trailer()
	if w.err == nil {
		w.err = w.w.Flush()
	}
	if err := f.Close(); w.err == nil {
		w.err = err
	}
	return w.err
}

// cpioWriter writes the "newc" cpio format the kernel's initramfs takes.
type cpioWriter struct {
	w   *bufio.Writer
	ino int
	err error
}

func (c *cpioWriter) entry(name string, mode uint32, major, minor int, data []byte) {
	if c.err != nil {
		return
	}
	c.ino++
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		c.ino, mode, 0, 0, 1, 0, len(data), 0, 0, major, minor, len(name)+1, 0)
	_, c.err = io.WriteString(c.w, hdr+name+"\x00")
	c.pad(len(hdr) + len(name) + 1)
	if c.err == nil {
		_, c.err = c.w.Write(data)
	}
	c.pad(len(data))
}

func (c *cpioWriter) pad(n int) {
	if c.err == nil && n%4 != 0 {
		_, c.err = c.w.Write(make([]byte, 4-n%4))
	}
}

func (c *cpioWriter) dir(name string) { c.entry(name, syscall.S_IFDIR|0o755, 0, 0, nil) }
func (c *cpioWriter) file(name string, perm uint32, b []byte) {
	c.entry(name, syscall.S_IFREG|perm, 0, 0, b)
}
func (c *cpioWriter) node(name string, mode uint32, ma, mi int) { c.entry(name, mode, ma, mi, nil) }
func (c *cpioWriter) trailer()                                  { c.entry("TRAILER!!!", 0, 0, 0, nil) }

func TestCheckVMLog(t *testing.T) {
	var pass strings.Builder
	pass.WriteString("--- PASS: TestNoIPVS (0.01s)\n")
	for _, kt := range kernelTests {
		pass.WriteString("    --- PASS: TestKernel/" + kt.name + " (0.10s)\n")
	}
	pass.WriteString("--- PASS: TestKernel (1.00s)\nwebfarm-vm: result noipvs=0 ipvs=0\n")
	if err := checkVMLog(pass.String()); err != nil {
		t.Errorf("every test passed: checkVMLog = %v", err)
	}
	// The Permission child's lines, logged deeper, do not count.
	skipped := strings.Replace(pass.String(), "    --- PASS: TestKernel/Permission (0.10s)\n",
		"    --- SKIP: TestKernel/Permission (0.00s)\n            --- PASS: TestKernel/Permission (0.2s)\n", 1)
	if err := checkVMLog(skipped); err == nil || !strings.Contains(err.Error(), "TestKernel/Permission did not pass") {
		t.Errorf("a skipped subtest: checkVMLog = %v, want TestKernel/Permission named", err)
	}
	failed := strings.Replace(pass.String(), "ipvs=0", "ipvs=1", 1)
	if err := checkVMLog(failed); err == nil {
		t.Error("a non-zero exit passed checkVMLog")
	}
}
