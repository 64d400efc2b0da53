# myelin in a CMake project (Zephyr, STM32CubeIDE/CubeMX CMake, ESP-IDF
# components): include this file, then call myelin_add_model().
#
#   set(MYELIN_DIR path/to/myelin)                  # this repository
#   set(MYELIN_TARGET thumbv7em-none-eabihf)        # thumbv6m-none-eabi, thumbv8m.main-none-eabihf
#   include(${MYELIN_DIR}/examples/c/myelin.cmake)
#   myelin_add_model(kws ${CMAKE_CURRENT_SOURCE_DIR}/kws-int8.myl)
#   target_link_libraries(app PRIVATE myelin_model_kws)   # Zephyr: the `app` target
#
# myelin_add_model(NAME MODEL) makes a static library `myelin_model_NAME`
# holding NAME.c (the model file as an aligned const array) with NAME.h and
# myelin.h on its include path, linked with the imported target `myelin`
# (libmyelin.a, built by cargo for MYELIN_TARGET).

if(NOT DEFINED MYELIN_DIR OR NOT DEFINED MYELIN_TARGET)
  message(FATAL_ERROR "myelin.cmake: set MYELIN_DIR and MYELIN_TARGET first")
endif()
find_program(MYELIN_CARGO cargo REQUIRED)
set(MYELIN_RUSTFLAGS "" CACHE STRING "RUSTFLAGS for libmyelin.a (e.g. -C target-cpu=cortex-m4)")
# The myelin command line; default: built from MYELIN_DIR.
if(NOT DEFINED MYELIN_CLI)
  set(MYELIN_CLI ${MYELIN_CARGO} run --quiet --release --manifest-path ${MYELIN_DIR}/Cargo.toml
      --bin myelin --)
endif()

set(MYELIN_LIB ${MYELIN_DIR}/capi/target/${MYELIN_TARGET}/release/libmyelin.a)
add_custom_command(
  OUTPUT ${MYELIN_LIB}
  COMMAND ${CMAKE_COMMAND} -E env "RUSTFLAGS=${MYELIN_RUSTFLAGS}"
          ${MYELIN_CARGO} build --release --manifest-path ${MYELIN_DIR}/capi/Cargo.toml
          --target ${MYELIN_TARGET}
  WORKING_DIRECTORY ${MYELIN_DIR}/capi
  COMMENT "libmyelin.a for ${MYELIN_TARGET}"
  VERBATIM)
add_custom_target(myelin_runtime DEPENDS ${MYELIN_LIB})
if(NOT TARGET myelin)
  add_library(myelin STATIC IMPORTED GLOBAL)
  set_target_properties(myelin PROPERTIES
    IMPORTED_LOCATION ${MYELIN_LIB}
    INTERFACE_INCLUDE_DIRECTORIES ${MYELIN_DIR}/capi/include)
  add_dependencies(myelin myelin_runtime)
endif()

function(myelin_add_model name model)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/myelin_${name})
  add_custom_command(
    OUTPUT ${out}/${name}.c ${out}/${name}.h
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out}
    COMMAND ${MYELIN_CLI} export --c ${model} --out ${out} --name ${name}
    DEPENDS ${model}
    COMMENT "myelin export --c ${model}"
    VERBATIM)
  add_library(myelin_model_${name} STATIC ${out}/${name}.c)
  target_include_directories(myelin_model_${name} PUBLIC ${out})
  target_link_libraries(myelin_model_${name} PUBLIC myelin)
endfunction()
