// Package testutil and its subpackages hold what tests share: a wait
// helper, real Alertmanager, Prometheus and etcd processes,
// certificates, recorded Service Center metrics and registry helpers.
// Production packages must not import it or its subpackages
// (TestProductionDoesNotImportTestutil checks that).
package testutil
