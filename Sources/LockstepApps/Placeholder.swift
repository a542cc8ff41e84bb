package enum ConnectProfilePlaceholder {}
