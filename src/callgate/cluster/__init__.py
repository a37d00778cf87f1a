"""Running one centre on several callgate processes: the leader's election on etcd (issue #21)."""
