#include <stdio.h>

int greet(const char *who);

int main(void) { return greet("bench"); }
