// Cni-loopback is the CNI plugin of the Kubernetes testbed's sandbox node,
// whose pod network is loopback only: a pod gets no interface but lo.
//
// containerd's CRI runs two networks for each pod sandbox: its built-in
// cni-loopback network (the reference loopback plugin, which brings lo up
// in the pod's network namespace) and the one configured in its conf_dir,
// for the interface it names eth0. This plugin is that second network. It
// creates nothing: on ADD it only reports an interface named CNI_IFNAME in
// the pod's namespace with the address 127.0.0.1/8, which is all
// containerd 1.6 asks of a result (an IP on the default interface) before
// it starts the pod. Kubernetes then shows 127.0.0.1 as the pod IP, which
// is true: the pod is reachable on loopback only, from inside itself.
//
// DEL, CHECK, STATUS and GC have nothing to undo or verify and succeed;
// VERSION lists the spec versions the result format is written for. It is
// meant as the only plugin of its network:
//
//	{"cniVersion": "1.0.0", "name": "warmbox-loopback", "plugins": [{"type": "cni-loopback"}]}
//
// Pods that need the network use hostNetwork. deploy/kubernetes/testbed.sh
// builds this plugin and installs it as the node's only network.
package main
