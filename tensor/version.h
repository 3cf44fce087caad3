/* The tensorgrad version (CMake reads it from here: one source). */
#ifndef TG_VERSION_H
#define TG_VERSION_H

#define TG_VERSION_MAJOR 0
#define TG_VERSION_MINOR 2
#define TG_VERSION_PATCH 0
#define TG_VERSION "0.2.0"

#endif
