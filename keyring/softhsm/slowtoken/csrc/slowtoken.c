/*
 * slowtoken: a PKCS#11 module for tests that behaves like a smartcard or a USB token in front of
 * SoftHSM. Every call is SoftHSM's own (the function list is SoftHSM's, copied), except:
 *
 *   C_Sign, C_SignFinal  wait SIGNET_SLOWTOKEN_SIGN_MS milliseconds before signing, holding one lock
 *                        for the whole module: the chip is one, whatever key or session asks, as on
 *                        a real token (PKCS#11 v2.40 §5.12 allows a module to serialise internally).
 *                        The length query (pSignature NULL_PTR, §5.2) answers at once, as a card's
 *                        driver does without talking to the chip.
 *   C_GetSlotInfo        adds CKF_HW_SLOT (§3.2, CK_SLOT_INFO), so Signet takes it for hardware.
 *   C_GetFunctionList    returns the patched list.
 *
 * SIGNET_SLOWTOKEN_MODULE names the module forwarded to (default: libsofthsm2.so on the library
 * path). Both variables are read once, when the list is first asked for. Built by the Go package
 * one directory up (slowtoken.Build); never shipped, never used outside tests and benchmarks.
 */
#define CK_PTR *
#ifndef NULL_PTR
#define NULL_PTR 0
#endif
#define CK_DEFINE_FUNCTION(returnType, name) returnType name
#define CK_DECLARE_FUNCTION(returnType, name) returnType name
#define CK_DECLARE_FUNCTION_POINTER(returnType, name) returnType (*name)
#define CK_CALLBACK_FUNCTION(returnType, name) returnType (*name)
#include "pkcs11.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static CK_FUNCTION_LIST_PTR real;
static CK_FUNCTION_LIST slow;
static CK_RV loaded = CKR_GENERAL_ERROR;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t chip = PTHREAD_MUTEX_INITIALIZER;
static struct timespec delay;

static void wait_like_a_chip(void) {
	struct timespec left = delay;
	while (nanosleep(&left, &left) == -1 && errno == EINTR) {
	}
}

static CK_RV slow_sign(CK_SESSION_HANDLE s, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig, CK_ULONG_PTR siglen) {
	if (sig == NULL_PTR) {
		return real->C_Sign(s, data, len, sig, siglen);
	}
	pthread_mutex_lock(&chip);
	wait_like_a_chip();
	CK_RV rv = real->C_Sign(s, data, len, sig, siglen);
	pthread_mutex_unlock(&chip);
	return rv;
}

static CK_RV slow_sign_final(CK_SESSION_HANDLE s, CK_BYTE_PTR sig, CK_ULONG_PTR siglen) {
	if (sig == NULL_PTR) {
		return real->C_SignFinal(s, sig, siglen);
	}
	pthread_mutex_lock(&chip);
	wait_like_a_chip();
	CK_RV rv = real->C_SignFinal(s, sig, siglen);
	pthread_mutex_unlock(&chip);
	return rv;
}

static CK_RV hw_slot_info(CK_SLOT_ID id, CK_SLOT_INFO_PTR info) {
	CK_RV rv = real->C_GetSlotInfo(id, info);
	if (rv == CKR_OK && info != NULL_PTR) {
		info->flags |= CKF_HW_SLOT;
	}
	return rv;
}

static void load(void) {
	const char *path = getenv("SIGNET_SLOWTOKEN_MODULE");
	if (path == NULL || *path == 0) {
		path = "libsofthsm2.so";
	}
	const char *ms = getenv("SIGNET_SLOWTOKEN_SIGN_MS");
	double d = ms != NULL ? strtod(ms, NULL) : 0;
	if (d < 0) {
		d = 0;
	}
	delay.tv_sec = (time_t)(d / 1000);
	delay.tv_nsec = (long)((d - (double)delay.tv_sec * 1000) * 1e6);

	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		fprintf(stderr, "slowtoken: dlopen %s: %s\n", path, dlerror());
		return;
	}
	CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList");
	if (get == NULL || get(&real) != CKR_OK || real == NULL) {
		fprintf(stderr, "slowtoken: %s has no usable C_GetFunctionList\n", path);
		return;
	}
	slow = *real;
	slow.C_GetFunctionList = C_GetFunctionList;
	slow.C_Sign = slow_sign;
	slow.C_SignFinal = slow_sign_final;
	slow.C_GetSlotInfo = hw_slot_info;
	loaded = CKR_OK;
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list) {
	if (list == NULL_PTR) {
		return CKR_ARGUMENTS_BAD;
	}
	pthread_once(&once, load);
	if (loaded != CKR_OK) {
		return loaded;
	}
	*list = &slow;
	return CKR_OK;
}
