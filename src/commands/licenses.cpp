// SPDX-License-Identifier: Apache-2.0
#include "commands/licenses.h"

namespace lameduck {

const char* license_notices() {
  return R"(lameduck is licensed under the Apache License, Version 2.0 (SPDX: Apache-2.0); the
full text is in the LICENSE file of its source. The static binary also contains the
components below, each under its own license. The full license texts are in Debian's
/usr/share/common-licenses/ (Apache-2.0, GPL-3, LGPL-2.1) and in each component's source.

== curl (libcurl), SPDX: curl
Copyright (c) 1996 - 2023, Daniel Stenberg, <daniel@haxx.se>, and many contributors.
All rights reserved.
Permission to use, copy, modify, and distribute this software for any purpose with or
without fee is hereby granted, provided that the above copyright notice and this
permission notice appear in all copies.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,
INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR
PURPOSE AND NONINFRINGEMENT OF THIRD PARTY RIGHTS. IN NO EVENT SHALL THE AUTHORS OR
COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN
ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE
SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
Except as contained in this notice, the name of a copyright holder shall not be used in
advertising or otherwise to promote the sale, use or other dealings in this Software
without prior written authorization of the copyright holder.

== Mbed TLS 2.28, SPDX: Apache-2.0
Copyright The Mbed TLS Contributors. Licensed under the Apache License, Version 2.0 (the
same text as lameduck's LICENSE). lameduck's build disables modules in its configuration
and backports the iPAddress SAN check of Mbed TLS 3.5 (scripts/build-static.sh).

== zlib 1.2.13, SPDX: Zlib
Copyright (C) 1995-2022 Jean-loup Gailly and Mark Adler.
This software is provided 'as-is', without any express or implied warranty. In no event
will the authors be held liable for any damages arising from the use of this software.
Permission is granted to anyone to use this software for any purpose, including
commercial applications, and to alter it and redistribute it freely, subject to the
following restrictions:
1. The origin of this software must not be misrepresented; you must not claim that you
   wrote the original software. If you use this software in a product, an acknowledgment
   in the product documentation would be appreciated but is not required.
2. Altered source versions must be plainly marked as such, and must not be
   misrepresented as being the original software.
3. This notice may not be removed or altered from any source distribution.

== GNU C Library (glibc 2.36), SPDX: LGPL-2.1-or-later
Copyright (C) 1991-2022 Free Software Foundation, Inc. and others.
The GNU C Library is free software; you can redistribute it and/or modify it under the
terms of the GNU Lesser General Public License as published by the Free Software
Foundation; either version 2.1 of the License, or (at your option) any later version.
It is distributed WITHOUT ANY WARRANTY; without even the implied warranty of
MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE. See the GNU Lesser General Public
License for more details.
lameduck links glibc statically. To relink it with a modified glibc, rebuild it from
lameduck's source with scripts/build-static.sh (it fetches every other input from
Debian and is reproducible), pointing the compiler at your C library.

== GNU C++ library (libstdc++, GCC 12) and libgcc,
   SPDX: GPL-3.0-or-later WITH GCC-exception-3.1
Copyright (C) Free Software Foundation, Inc.
These are free software under the GNU General Public License, version 3 or later, with
the GCC Runtime Library Exception, version 3.1: a program compiled with GCC may combine
them with its own code and be distributed under the program's own terms.

== spdlog 1.10, SPDX: MIT
Copyright (c) 2016 Gabi Melman.
== fmt 9.1, SPDX: MIT (with fmt's optional exception for embedded object code)
Copyright (c) 2012 - present, Victor Zverovich and {fmt} contributors.
== JSON for Modern C++ (nlohmann-json) 3.11, SPDX: MIT
Copyright (c) 2013-2022 Niels Lohmann.
Each of these three under the MIT License:
Permission is hereby granted, free of charge, to any person obtaining a copy of this
software and associated documentation files (the "Software"), to deal in the Software
without restriction, including without limitation the rights to use, copy, modify,
merge, publish, distribute, sublicense, and/or sell copies of the Software, and to
permit persons to whom the Software is furnished to do so, subject to the following
conditions:
The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,
INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR
PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE
FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR
OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER
DEALINGS IN THE SOFTWARE.
)";
}

}  // namespace lameduck
