"""Who is asking: the key ring (fed by Admin.WatchKeys), authentication, roles, back-off."""
