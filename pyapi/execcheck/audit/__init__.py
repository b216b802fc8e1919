"""`execcheck audit`: what ld.so would load for programs and images, and what the exec check says of it."""
