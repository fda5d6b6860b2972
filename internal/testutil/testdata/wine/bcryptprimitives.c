#include <windows.h>
#include <bcrypt.h>
/* ProcessPrng, which Go 1.22+ binaries import from bcryptprimitives.dll
   and Wine 8 lacks: the system RNG through BCryptGenRandom. */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
	while (len > 0) {
		ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (BCryptGenRandom(NULL, data, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0)
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
