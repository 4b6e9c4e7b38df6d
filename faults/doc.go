// Package faults holds Signet's fault-injection tests: the real `signet` binary (built once per test
// run) as intake and worker processes, a real nats-server (one node, or a three-node cluster) embedded
// in the test process, MinIO, SoftHSM and the Bitrix24 emulator, with faults injected while a batch of
// robot calls is in flight: worker processes killed with SIGKILL, NATS restarted, MinIO stopped, the
// portal answering 503 or dropping answers, the SoftHSM token taken away. Every test ends by counting,
// per job, exactly one stored result, exactly one accepted bizproc.event.send and one signed version.
//
// Nothing here listens on or connects to anything but 127.0.0.1, except TestMultiHost, whose hosts are
// network namespaces it makes on a private bridge (10.213.77.0/24) and removes (netns_test.go). The
// 10,000-document soak runs only with SIGNET_SOAK=1; its figures and the multi-host run's are in
// bench/RESULTS.md.
package faults
