// Android Studio / Gradle entry point. The same sources are also built without Gradle by
// build.sh (Debian's aapt, javac, dx, zipalign, apksigner), which is what CI runs.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "StrongLiveCompanion"
include(":app")
