print("spate-wire-gen")
