# `cmake --install build --prefix P` and `cpack -G DEB` (docs/install.md).
#
#   bin/avgraph                      the command line
#   lib/libavgraph_{engine,nodes,io}.so
#   include/avgraph/{graph,nodes,io}/  the public headers, with the paths the sources use
#   lib/cmake/avgraph/               the CMake package: find_package(avgraph) gives avgraph::engine,
#                                    avgraph::nodes and avgraph::io
#   share/avgraph/presets, examples  the shipped presets (with the trained ESC-10 model) and clips
#   share/doc/avgraph/               the documentation
#   lib/vst3/avgraph.vst3, lib/lv2/avgraph.lv2   the plugin bundles, where the plugin is built
#
# Two components, two Debian packages: Runtime (avgraph) and Development (libavgraph-dev).
include(CMakePackageConfigHelpers)

set(AVGRAPH_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/avgraph)

install(TARGETS avgraph RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT Runtime)
install(TARGETS avgraph_engine avgraph_nodes avgraph_io EXPORT avgraphTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT Runtime
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/avgraph)

# Public headers: every header of the three installed layers but the two that only their own sources
# include (they include libsndfile's and FFmpeg's headers, which consumers need not have).
foreach(layer graph nodes io)
    install(DIRECTORY ${CMAKE_SOURCE_DIR}/${layer}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/avgraph/${layer}
            COMPONENT Development FILES_MATCHING PATTERN "*.h"
            PATTERN "sndfile_support.h" EXCLUDE PATTERN "ffmpeg_support.h" EXCLUDE)
endforeach()

install(EXPORT avgraphTargets NAMESPACE avgraph:: DESTINATION ${AVGRAPH_CMAKE_DIR} COMPONENT Development)
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/avgraphConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/cmake/avgraphConfig.cmake INSTALL_DESTINATION ${AVGRAPH_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/cmake/avgraphConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/cmake/avgraphConfig.cmake ${CMAKE_BINARY_DIR}/cmake/avgraphConfigVersion.cmake
        DESTINATION ${AVGRAPH_CMAKE_DIR} COMPONENT Development)

install(DIRECTORY ${CMAKE_SOURCE_DIR}/presets/ DESTINATION ${CMAKE_INSTALL_DATADIR}/avgraph/presets
        COMPONENT Runtime PATTERN "experiments" EXCLUDE)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/examples/audio DESTINATION ${CMAKE_INSTALL_DATADIR}/avgraph/examples
        COMPONENT Runtime)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/examples/embed ${CMAKE_SOURCE_DIR}/examples/node_library
        DESTINATION ${CMAKE_INSTALL_DATADIR}/avgraph/examples COMPONENT Development)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT Runtime)
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT Runtime)

if(AVGRAPH_BUILD_PLUGIN)
    # Each bundle is whole (the engine's libraries and the presets inside it): copied as built.
    install(DIRECTORY ${AVGRAPH_VST3_BUNDLE} DESTINATION ${CMAKE_INSTALL_LIBDIR}/vst3 COMPONENT Runtime
            USE_SOURCE_PERMISSIONS)
    install(DIRECTORY ${AVGRAPH_LV2_BUNDLE} DESTINATION ${CMAKE_INSTALL_LIBDIR}/lv2 COMPONENT Runtime
            USE_SOURCE_PERMISSIONS)
endif()

# Debian packages. dpkg-shlibdeps derives the run-time dependencies from the binaries, as Debian's
# own packages do, so they are Debian package names at the versions this build linked.
set(CPACK_PACKAGE_NAME avgraph)
set(CPACK_PACKAGE_VENDOR "avgraph")
set(CPACK_PACKAGE_CONTACT "avgraph developers <dev@avgraph.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL Runtime Development)
if(AVGRAPH_BUILD_PYTHON)
    list(APPEND CPACK_COMPONENTS_ALL Python)
endif()
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION sound)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME avgraph)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${CMAKE_BINARY_DIR}/lib)
# Plots of reports and timelines (gnuplot), the pictures of `avgraph dot` (graphviz).
set(CPACK_DEBIAN_RUNTIME_PACKAGE_RECOMMENDS "gnuplot-nox, graphviz")
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION "${PROJECT_DESCRIPTION}
 The avgraph command line (run, validate, train, eval, ablate, bench), the engine, node and I/O
 libraries, the shipped presets with a trained ESC-10 model, and the VST3 and LV2 plugins.")
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_NAME libavgraph-dev)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_SECTION libdevel)
# The headers include LibTorch's, Boost.Graph's and nlohmann/json's; the CMake package finds them.
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS
    "avgraph (= ${PROJECT_VERSION}), libtorch-dev, libboost-graph-dev, nlohmann-json3-dev, cmake, g++")
set(CPACK_DEBIAN_DEVELOPMENT_DESCRIPTION "${PROJECT_DESCRIPTION} (development files)
 Headers and the CMake package (find_package(avgraph): avgraph::engine, avgraph::nodes, avgraph::io)
 to embed the engine in a program or to write a node library, with both as examples.")
# The Python package, named as Debian names Python modules.
set(CPACK_DEBIAN_PYTHON_PACKAGE_NAME python3-avgraph)
set(CPACK_DEBIAN_PYTHON_PACKAGE_SECTION python)
set(CPACK_DEBIAN_PYTHON_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PYTHON_PACKAGE_DEPENDS "avgraph (= ${PROJECT_VERSION}), python3 (>= 3.9), python3-numpy")
set(CPACK_DEBIAN_PYTHON_DESCRIPTION "${PROJECT_DESCRIPTION} (Python package)
 import avgraph: run presets on numpy arrays and files, stream them block by block, and
 librosa-compatible load, stft, cqt, melspectrogram, mfcc and delta computed by avgraph's nodes.")

include(CPack)
cpack_add_component(Runtime DISPLAY_NAME "avgraph")
cpack_add_component(Development DISPLAY_NAME "avgraph development files" DEPENDS Runtime)
cpack_add_component(Python DISPLAY_NAME "avgraph for Python" DEPENDS Runtime)
