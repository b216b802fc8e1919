/* A plain shared library for ctypes.CDLL: ec_answer() returns 42. */
int ec_answer(void) { return 42; }
